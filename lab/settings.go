package lab

import (
	"fmt"
	"math"
)

// Settings checks an experiment's settings and keeps the first problem:
//
//	s := lab.CheckSettings("flags")
//	s.AtLeast("eval-interval", c.EvalInterval, 1)
//	s.NonNegative("learning_rate", c.LR)
//	return s.Err()
//
// Where names where the settings came from ("flags", or a resumed run's
// config.json), so that the error says what to change, and where.
type Settings struct {
	where string
	err   error
}

// CheckSettings starts checking the settings read from where.
func CheckSettings(where string) *Settings { return &Settings{where: where} }

// AtLeast requires value ≥ min (a count of iterations, batches, rows).
func (s *Settings) AtLeast(name string, value, min int) {
	if s.err == nil && value < min {
		s.err = fmt.Errorf("%s: %s is %d; it must be at least %d", s.where, name, value, min)
	}
}

// NonNegative requires a finite value ≥ 0 (a learning rate, a decay).
func (s *Settings) NonNegative(name string, value float64) {
	if s.err == nil && (!(value >= 0) || math.IsInf(value, 0)) {
		s.err = fmt.Errorf("%s: %s is %v; it must be a number ≥ 0", s.where, name, value)
	}
}

// Within requires lo ≤ value ≤ hi (a probability).
func (s *Settings) Within(name string, value, lo, hi float64) {
	if s.err == nil && !(value >= lo && value <= hi) {
		s.err = fmt.Errorf("%s: %s is %v; it must be between %v and %v", s.where, name, value, lo, hi)
	}
}

// Err returns the first problem found, nil when there is none.
func (s *Settings) Err() error { return s.err }
