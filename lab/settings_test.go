package lab

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestFlagsFromConfigTags(t *testing.T) {
	type Shared struct {
		Width int `json:"width" flag:"width" help:"model width"`
	}
	type config struct {
		Shared
		Iters   int      `json:"max_iters" flag:"iters" help:"training iterations"`
		LR      float64  `json:"learning_rate" flag:"lr" help:"peak learning rate"`
		Seed    uint64   `json:"seed" flag:"seed"`
		Backend string   `json:"backend" flag:"backend"`
		Quant   bool     `json:"quant" flag:"quant"`
		Targets []string `json:"targets" flag:"targets"`
		Hidden  int      `json:"hidden"` // no flag tag: no flag
	}
	c := config{Shared: Shared{Width: 64}, Iters: 2000, LR: 1e-3, Seed: 1337, Targets: []string{"q", "v"}, Hidden: 7}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Flags(fs, &c)
	if f := fs.Lookup("iters"); f == nil || f.DefValue != "2000" || f.Usage != "training iterations" {
		t.Errorf("-iters: %+v", f)
	}
	if f := fs.Lookup("targets"); f == nil || f.DefValue != "q,v" {
		t.Errorf("-targets: %+v", f)
	}
	if fs.Lookup("hidden") != nil {
		t.Error("a field without a flag tag got a flag")
	}
	if f := fs.Lookup("width"); f == nil || f.DefValue != "64" || f.Usage != "model width" {
		t.Errorf("-width, from an embedded struct: %+v", f)
	}
	if err := fs.Parse(strings.Fields("-iters 5 -lr 0.5 -seed 9 -backend go -quant -targets a,b,c -width 8")); err != nil {
		t.Fatal(err)
	}
	want := config{Iters: 5, LR: 0.5, Seed: 9, Backend: "go", Quant: true, Targets: []string{"a", "b", "c"}, Hidden: 7}
	if c.Iters != want.Iters || c.LR != want.LR || c.Seed != want.Seed || c.Backend != want.Backend || !c.Quant ||
		!slices.Equal(c.Targets, want.Targets) || c.Hidden != 7 || c.Width != 8 {
		t.Errorf("parsed %+v, want %+v", c, want)
	}
	if err := fs.Parse([]string{"-iters", "many"}); err == nil {
		t.Error("-iters many parsed")
	}
}
