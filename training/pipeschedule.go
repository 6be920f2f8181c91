package training

import (
	"fmt"
	"strings"
	"time"
)

// PipeSchedule orders the micro-batches' forward and backward passes on
// each stage of a pipeline.
type PipeSchedule uint8

const (
	// GPipe runs every micro-batch forward through the pipeline, then every
	// one backward (in reverse order): each stage holds the inputs of all
	// the micro-batches at once.
	GPipe PipeSchedule = iota + 1
	// OneFOneB is PipeDream-flush's 1F1B: stage s of S runs S-s-1 warm-up
	// forwards, then alternates one forward and one backward, then the
	// cool-down backwards. It keeps at most S-s micro-batches in flight on
	// stage s, for the same bubble as GPipe.
	OneFOneB
)

var pipeScheduleNames = map[PipeSchedule]string{GPipe: "gpipe", OneFOneB: "1f1b"}

// String returns "gpipe" or "1f1b", the names ParsePipeSchedule reads.
func (s PipeSchedule) String() string {
	if n, ok := pipeScheduleNames[s]; ok {
		return n
	}
	return fmt.Sprintf("schedule(%d)", s)
}

// ParsePipeSchedule reads a schedule name: "gpipe" or "1f1b" (or
// "pipedream").
func ParsePipeSchedule(name string) (PipeSchedule, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "gpipe":
		return GPipe, nil
	case "1f1b", "pipedream", "pipedream-flush":
		return OneFOneB, nil
	}
	return 0, fmt.Errorf("unknown pipeline schedule %q: want gpipe or 1f1b", name)
}

// PipeOp is one operation of a stage: the forward or the backward pass of
// one micro-batch.
type PipeOp struct {
	MicroBatch int
	Backward   bool
}

// Ops returns, for each of stages stages, its operations in the order it
// runs them over micro micro-batches.
func (s PipeSchedule) Ops(stages, micro int) ([][]PipeOp, error) {
	if stages < 1 || micro < 1 {
		return nil, fmt.Errorf("pipeline: %d stages and %d micro-batches: want at least one of each", stages, micro)
	}
	out := make([][]PipeOp, stages)
	for st := range out {
		switch s {
		case GPipe:
			for m := range micro {
				out[st] = append(out[st], PipeOp{MicroBatch: m})
			}
			for m := micro - 1; m >= 0; m-- {
				out[st] = append(out[st], PipeOp{MicroBatch: m, Backward: true})
			}
		case OneFOneB:
			warm := min(stages-st-1, micro)
			for m := range warm {
				out[st] = append(out[st], PipeOp{MicroBatch: m})
			}
			for i := range micro - warm {
				out[st] = append(out[st], PipeOp{MicroBatch: warm + i}, PipeOp{MicroBatch: i, Backward: true})
			}
			for m := micro - warm; m < micro; m++ {
				out[st] = append(out[st], PipeOp{MicroBatch: m, Backward: true})
			}
		default:
			return nil, fmt.Errorf("pipeline: unknown schedule %d", s)
		}
	}
	return out, nil
}

// PipeEvent is one operation as it ran: its stage, micro-batch and pass,
// and its wall-clock start and end since the step began.
type PipeEvent struct {
	Stage, MicroBatch int
	Backward          bool
	Start, End        time.Duration
}

// PipeTimeline is one pipeline step as it ran: every forward and backward
// pass of every stage, then the optimizer's update.
type PipeTimeline struct {
	Schedule     PipeSchedule
	Stages       int
	MicroBatches int
	Events       []PipeEvent
	// Pipeline is the time from the step's start to the end of its last
	// backward pass; Step adds the exchange of tied gradients, the
	// gradient norm and the update.
	Pipeline, Step time.Duration
	// Transfers counts the activations and gradients passed between
	// stages, their bytes, and the time spent copying them from one
	// device to another (PJRT's device-to-device copy).
	Transfers     int
	TransferBytes int64
	TransferTime  time.Duration
	// ActivationBytes is the size of one micro-batch's residual stream
	// between two stages, which a stage keeps for each micro-batch in
	// flight.
	ActivationBytes int64
}

// Busy returns the time stage spent in its forward and backward passes.
func (tl PipeTimeline) Busy(stage int) time.Duration {
	var busy time.Duration
	for _, e := range tl.Events {
		if e.Stage == stage {
			busy += e.End - e.Start
		}
	}
	return busy
}

// Bubble returns the fraction of the pipeline's time that stage sat
// idle: 1 - Busy/Pipeline.
func (tl PipeTimeline) Bubble(stage int) float64 {
	if tl.Pipeline <= 0 {
		return 0
	}
	return 1 - float64(tl.Busy(stage))/float64(tl.Pipeline)
}

// MeanBubble returns the stages' mean bubble fraction.
func (tl PipeTimeline) MeanBubble() float64 {
	sum := 0.0
	for s := range tl.Stages {
		sum += tl.Bubble(s)
	}
	return sum / float64(max(1, tl.Stages))
}

// InFlight returns the most micro-batches stage held at once: run forward
// and not yet backward, so that it kept their inputs for the backward pass.
func (tl PipeTimeline) InFlight(stage int) int {
	n, peak := 0, 0
	for _, e := range tl.Events {
		if e.Stage != stage {
			continue
		}
		if e.Backward {
			n--
		} else {
			n++
		}
		peak = max(peak, n)
	}
	return peak
}

// IdealBubble is the bubble fraction of a pipeline of stages stages over
// micro micro-batches whose passes all take the same time: (S-1)/(M+S-1),
// for GPipe and 1F1B alike.
func IdealBubble(stages, micro int) float64 {
	return float64(stages-1) / float64(micro+stages-1)
}
