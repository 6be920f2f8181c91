package lab

import (
	"flag"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
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

// Layout requires a mesh and strategy that can run with batches of
// batchRows rows (see Parallel.Check).
func (s *Settings) Layout(p Parallel, batchRows int) {
	if s.err == nil {
		s.err = p.Check(s.where, batchRows)
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

// Parallel is how an experiment lays its model out over several devices:
// settings every experiment embeds in its Config, so that config.json
// records them and a resumed run uses them (flags given on -resume win).
// An empty Mesh is one device.
type Parallel struct {
	Mesh     string `json:"mesh,omitempty" flag:"mesh" help:"device mesh, e.g. data=2 or data=2,model=2 (host devices of XLA's CPU plugin unless -backend names another XLA engine)"`
	Strategy string `json:"strategy,omitempty" flag:"strategy" help:"sharding over -mesh: data, fsdp, tensor, zero1 or zero2 (default data)"`
}

// Check returns an error, before any backend or weight exists, naming a
// mesh or strategy that cannot run with batches of batchRows rows (see
// modeling.CheckLayout); where names where the settings came from.
func (p Parallel) Check(where string, batchRows int) error {
	if p.Mesh == "" {
		if p.Strategy != "" {
			return fmt.Errorf("%s: strategy %q needs a mesh (-mesh data=2, for example)", where, p.Strategy)
		}
		return nil
	}
	axes, strategy, err := p.parse()
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := modeling.CheckLayout(axes, strategy, batchRows); err != nil {
		return fmt.Errorf("%s: mesh %s, strategy %s: %w", where, p.Mesh, strategy, err)
	}
	return nil
}

// String returns "zero2 over data=2", or "one device" without a mesh.
func (p Parallel) String() string {
	if p.Mesh == "" {
		return "one device"
	}
	strategy := p.Strategy
	if strategy == "" {
		strategy = modeling.DataParallel.String()
	}
	return strategy + " over " + p.Mesh
}

// parse reads the mesh's axes and the strategy (data when none is named).
func (p Parallel) parse() ([]xla.MeshAxis, modeling.Strategy, error) {
	axes, err := xla.ParseMeshAxes(p.Mesh)
	if err != nil {
		return nil, 0, err
	}
	strategy := modeling.DataParallel
	if p.Strategy != "" {
		if strategy, err = modeling.ParseStrategy(p.Strategy); err != nil {
			return nil, 0, err
		}
	}
	return axes, strategy, nil
}

// devices returns how many devices the mesh spans (1 without one).
func (p Parallel) devices() int {
	axes, _, err := p.parse()
	if err != nil || p.Mesh == "" {
		return 1
	}
	n := 1
	for _, a := range axes {
		n *= a.Size
	}
	return n
}

// Backend creates the backend of spec (as a -backend flag gives it) with
// the devices the mesh needs: XLA's CPU plugin presents that many host
// devices unless spec names another XLA engine (see xla.SpecForDevices).
func (p Parallel) Backend(spec string) (compute.Backend, error) {
	n := p.devices()
	spec, err := xla.SpecForDevices(spec, n)
	if err != nil {
		return nil, fmt.Errorf("-mesh %s: %w", p.Mesh, err)
	}
	b, err := xla.New(spec)
	if err != nil && n > 1 {
		return nil, fmt.Errorf("-mesh %s needs %d devices: %w", p.Mesh, n, err)
	}
	return b, err
}

// Sharding returns the layout over backend's devices, nil for one device.
func (p Parallel) Sharding(backend compute.Backend) (*modeling.Sharding, error) {
	if p.Mesh == "" {
		return nil, nil
	}
	axes, strategy, err := p.parse()
	if err != nil {
		return nil, err
	}
	mesh, err := xla.NewMesh(backend, axes...)
	if err != nil {
		return nil, err
	}
	return modeling.NewSharding(mesh, strategy)
}

// Shardable is what Parallel.Shard lays out: a *training.Trainer, a
// model's *modeling.Params.
type Shardable interface {
	Shard(s *modeling.Sharding) error
}

// Shard lays out what sh holds — a *training.Trainer's weights, gradients
// and optimizer state, or a model's *modeling.Params — over backend's
// devices as p says. An axis that divides no weight is an error naming the
// weight, returned before anything moves.
func (p Parallel) Shard(backend compute.Backend, sh Shardable) error {
	s, err := p.Sharding(backend)
	if err != nil || s == nil {
		return err
	}
	if err := sh.Shard(s); err != nil {
		return fmt.Errorf("-mesh %s -strategy %s: %w", p.Mesh, s.Strategy, err)
	}
	return nil
}
