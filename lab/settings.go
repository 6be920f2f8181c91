package lab

import (
	"flag"
	"fmt"
	"math"
	"reflect"
	"strings"
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

// Flags defines a flag for every field of the struct config points to that
// has a `flag` tag: the tag is the flag's name, the field's current value
// its default, and the `help` tag its usage; parsing sets the field. So an
// experiment declares each setting once, in its Config, beside the JSON
// name its run folder's config.json gives it:
//
//	Iters int `json:"max_iters" flag:"iters" help:"training iterations"`
//
// Fields may be strings, bools, ints, uint64s, float64s and []string
// (comma-separated on the command line). The fields of an embedded,
// exported struct without a flag tag count as the config's own, so
// experiments can share a block of settings. A tagged field of another
// type, an unexported embedded struct, or a config that is not a pointer to
// a struct panics: a mistake in the experiment's code, not in its flags.
func Flags(fs *flag.FlagSet, config any) {
	v := reflect.ValueOf(config)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("lab.Flags: want a pointer to a struct, got %T", config))
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name := f.Tag.Get("flag")
		if name == "" {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				if !f.IsExported() {
					panic(fmt.Sprintf("lab.Flags: embedded struct %s is unexported, so its fields cannot be set", f.Type))
				}
				Flags(fs, v.Field(i).Addr().Interface())
			}
			continue
		}
		help := f.Tag.Get("help")
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, *p, help)
		case *bool:
			fs.BoolVar(p, name, *p, help)
		case *int:
			fs.IntVar(p, name, *p, help)
		case *uint64:
			fs.Uint64Var(p, name, *p, help)
		case *float64:
			fs.Float64Var(p, name, *p, help)
		case *[]string:
			fs.Var((*commaList)(p), name, help)
		default:
			panic(fmt.Sprintf("lab.Flags: field %s (flag -%s) is a %s, which has no flag type", f.Name, name, f.Type))
		}
	}
}

// commaList is a []string flag written as comma-separated values.
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }

func (l *commaList) Set(s string) error {
	*l = nil
	if s != "" {
		*l = strings.Split(s, ",")
	}
	return nil
}
