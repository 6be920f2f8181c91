package training_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/anchor"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// TestShardedMatchesJAX trains the anchor GPT-2 (internal/anchor) on one
// device and, data-parallel and fully sharded, on four host devices, and
// compares every loss with JAX's: the same model, initial weights and
// batches trained by jax.jit with NamedSharding on four host devices
// (scripts/sharding/jax_train.py, whose losses testdata/jax_sharded.json
// holds; regenerate with `make sharding-bench`).
func TestShardedMatchesJAX(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "jax_sharded.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with `make sharding-bench`)", err)
	}
	var jax struct {
		JAX  string `json:"jax"`
		Runs []struct {
			Devices  int       `json:"devices"`
			Strategy string    `json:"strategy"`
			Losses   []float64 `json:"losses"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &jax); err != nil {
		t.Fatal(err)
	}
	vocab, ids, targets, err := anchor.Batches(assets.Require(t, assets.TinyShakespeare), len(jax.Runs[0].Losses))
	if err != nil {
		t.Fatal(err)
	}
	b := shardtest.HostDevices(t, 4)
	for _, r := range jax.Runs {
		if r.Devices != 4 && !(r.Devices == 1 && r.Strategy == "data") {
			continue
		}
		t.Run(fmt.Sprintf("%s on %d devices", r.Strategy, r.Devices), func(t *testing.T) {
			m, tr, err := anchor.Model(vocab, b)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Params().Free()
			if r.Devices > 1 {
				strategy, err := modeling.ParseStrategy(r.Strategy)
				if err != nil {
					t.Fatal(err)
				}
				l := shardtest.Layout{Strategy: strategy, Axes: []xla.MeshAxis{{Name: xla.AxisData, Size: r.Devices}}}
				if err := tr.Shard(l.Sharding(t, b)); err != nil {
					t.Fatal(err)
				}
			}
			worst := 0.0
			for i, want := range r.Losses {
				x, _ := ids[i].LocalClone()
				y, _ := targets[i].LocalClone()
				loss, _, err := tr.Step(anchor.Schedule.At(i), x, y)
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(loss - want); d > shardtest.Tolerance {
					t.Errorf("step %d: loss %.7f, JAX %s gives %.7f", i, loss, jax.JAX, want)
				} else {
					worst = math.Max(worst, d)
				}
			}
			t.Logf("%d losses within %.2g of JAX %s's", len(r.Losses), worst, jax.JAX)
		})
	}
}
