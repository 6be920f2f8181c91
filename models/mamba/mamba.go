// Package mamba is Mamba, the selective state-space model, as Hugging
// Face's MambaForCausalLM computes it on its pure-PyTorch path: token
// embedding, pre-RMSNorm blocks whose mixer projects the input in two
// (in_proj), runs one half through a causal depthwise convolution and a
// selective scan and gates it with the SiLU of the other, and projects back
// (out_proj); a final RMSNorm and a head (tied to the embedding by default).
//
// The scan discretizes per token, input-dependent: Δ = softplus(dt_proj(·)),
// A = -exp(A_log), h_t = exp(Δ·A)·h_{t-1} + Δ·B·x_t, y_t = C·h_t + D·x_t. It
// runs with static shapes as modeling.LinearScan's mode says: sequentially
// (in the engine's While loop, or unrolled) or as a parallel associative
// scan; Model.Scan picks (default: the engine's fastest, measured in
// docs/benchmarks.md).
//
// Generation keeps the recurrent state in a modeling.Cache (Cache.State:
// per layer the convolution's last conv_kernel-1 inputs and the scan's
// state), so NewCache and Step work through the generate package as the
// decoders' KV cache does, and a prefill followed by single steps gives the
// full forward pass's logits.
//
// Padding: like transformers' slow path, an attention mask zeroes the
// padded positions' normalized hidden states before in_proj and their
// convolution outputs before the scan. Without projection biases
// (use_bias false, the usual case) a left-padded row then gives what the
// row gives unpadded; with them, the padding's in_proj bias reaches the
// convolution, as it does in transformers.
package mamba

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a Mamba language model bound to a backend.
type Model struct {
	Config *Config
	// Recurrent provides Forward, NewCache, Step and the scan mode (Scan).
	*modeling.Recurrent
}

// Load reads the model in the Hugging Face folder dir onto backend.
func Load(dir string, backend compute.Backend) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return New(cfg, set, backend)
}

// New builds a model from cfg and the checkpoint tensors in set.
func New(cfg *Config, set *weights.Set, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	if err := modeling.CheckLayers(set, "num_hidden_layers", cfg.NumHiddenLayers); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	params, err := modeling.LoadSpecsTo(backend, set, sp, checkpoint(cfg, set))
	if err != nil {
		return nil, err
	}
	m.Recurrent = modeling.NewRecurrent(params, backend, m.shape(), m.graph)
	return m, nil
}

// Save writes config.json and model.safetensors to dir, in a form Hugging
// Face's MambaForCausalLM reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// ModelType returns "mamba".
func (m *Model) ModelType() string { return m.Config.ModelType }

// shape sizes the recurrent state: per layer, the convolution's last
// conv_kernel-1 inputs [B, conv_kernel-1, inner] and the scan's state
// [B, inner, state_size].
func (m *Model) shape() modeling.RecurrentShape {
	c := m.Config
	return modeling.RecurrentShape{Layers: c.NumHiddenLayers, Vocab: c.VocabSize, State: func(batch int) [][]int {
		var dims [][]int
		for range c.NumHiddenLayers {
			dims = append(dims, []int{batch, c.ConvKernel - 1, c.Inner()}, []int{batch, c.Inner(), c.StateSize})
		}
		return dims
	}}
}

// graph is the network: MambaForCausalLM.forward. Each weight is named,
// shaped and given its role here, where it is used (see modeling.Scope).
// Its hidden states are transformers': each block's output, then norm_f's.
func (m *Model) graph(s modeling.Scope, ids, mask *Node, state []*Node, scan modeling.ScanMode) (*Node, []*Node, []*Node) {
	c := m.Config
	embed := modeling.Embedding
	if c.TieWordEmbeddings() {
		embed = modeling.LMHead // the embedding is also the head
	}
	x := s.Embed(ids, "backbone.embeddings.weight", embed, c.VocabSize, c.HiddenSize)
	keep := ExpandAxes(ConvertDType(mask, x.DType()), -1) // [B, T, 1]: 0 at padding
	var hidden, next []*Node
	for i := range c.NumHiddenLayers {
		l := s.At("backbone.layers.%d", i)
		x = s.Block(x)
		h := l.RMSNorm(x, "norm", c.LayerNormEpsilon)
		out, conv, ssm := m.mixer(l.At("mixer"), Mul(h, keep), keep, state[2*i], state[2*i+1], scan)
		x = Add(x, out)
		hidden, next = append(hidden, x), append(next, conv, ssm)
	}
	x = s.Hook(modeling.HookFinalNorm, s.RMSNorm(s.EndBlocks(x), "backbone.norm_f", c.LayerNormEpsilon))
	hidden = append(hidden, x)
	head := "lm_head.weight"
	if c.TieWordEmbeddings() {
		head = "backbone.embeddings.weight"
	}
	return modeling.Linear(x, s.Weight(head, modeling.LMHead, c.VocabSize, c.HiddenSize), nil), hidden, next
}

// mixer is MambaMixer: in_proj into the input and the gate, the causal
// convolution (continuing from conv, the last inputs before these tokens),
// the selective scan (from ssm, the state before them), the gate, and
// out_proj. It returns its output and the convolution's and scan's states
// after the last token. keep [B, T, 1] zeroes the padding's convolution
// outputs, as transformers' attention mask does.
func (m *Model) mixer(s modeling.Scope, h, keep, conv, ssm *Node, scan modeling.ScanMode) (out, convNext, ssmNext *Node) {
	c := m.Config
	inner, n, r := c.Inner(), c.StateSize, c.TimeStepRank()
	xz := s.Linear(h, "in_proj", modeling.ColumnParallel, 2*inner, c.UseBias)
	x, gate := SliceAxis(xz, -1, AxisRange(0, inner)), SliceAxis(xz, -1, AxisRange(inner, 2*inner))
	x, convNext = m.convolve(s, x, conv)
	x = Mul(x, keep)
	proj := s.Linear(x, "x_proj", modeling.RowParallel, r+2*n, false)
	dt := SliceAxis(proj, -1, AxisRange(0, r))
	b, cc := SliceAxis(proj, -1, AxisRange(r, r+n)), SliceAxis(proj, -1, AxisRange(r+n, r+2*n))
	dt = softplus(s.Linear(dt, "dt_proj", modeling.ColumnParallel, inner, true)) // Δ [B, T, inner]
	a := Neg(Exp(s.Weight("A_log", modeling.Whole, inner, n)))                   // A [inner, n]
	decay := Exp(Mul(ExpandAxes(dt, -1), modeling.Like(a, ExpandAxes(dt, -1))))  // exp(Δ·A) [B, T, inner, n]
	drive := Mul(ExpandAxes(Mul(dt, x), -1), ExpandAxes(b, 2))                   // Δ·B·x [B, T, inner, n]
	states := modeling.LinearScan(decay, drive, ssm, scan)
	y := ReduceSum(Mul(states, ExpandAxes(cc, 2)), -1) // C·h [B, T, inner]
	y = Add(y, Mul(x, modeling.Like(s.Weight("D", modeling.Whole, inner), x)))
	y = Mul(y, modeling.SiLU(gate))
	last := states.Shape().Dimensions[1] - 1
	ssmNext = Squeeze(SliceAxis(states, 1, AxisElem(last)), 1)
	return s.Linear(y, "out_proj", modeling.RowParallel, c.HiddenSize, c.UseBias), convNext, ssmNext
}

// convolve is the depthwise causal conv1d over time (conv_kernel taps per
// channel, conv1d.weight [inner, 1, K]) and its activation: x [B, T, inner]
// follows past [B, K-1, inner], the inputs before it (zeros at the start,
// which is the convolution's causal padding). It returns the activated
// outputs [B, T, inner] and the last K-1 inputs, the next call's past.
func (m *Model) convolve(s modeling.Scope, x, past *Node) (*Node, *Node) {
	c := m.Config
	inner, k := c.Inner(), c.ConvKernel
	t := x.Shape().Dimensions[1]
	w := Reshape(s.Weight("conv1d.weight", modeling.Whole, inner, 1, k), inner, k)
	all := Concatenate([]*Node{past, x}, 1) // [B, K-1+T, inner]
	var out *Node
	for j := range k {
		tap := Mul(SliceAxis(all, 1, AxisRange(j, j+t)), modeling.Like(Squeeze(SliceAxis(w, 1, AxisElem(j)), 1), x))
		if out == nil {
			out = tap
		} else {
			out = Add(out, tap)
		}
	}
	if c.UseConvBias() {
		out = Add(out, modeling.Like(s.Weight("conv1d.bias", modeling.Whole, inner), out))
	}
	return modeling.Activation(c.HiddenAct)(out), SliceAxis(all, 1, AxisRange(t, t+k-1))
}

// softplus is log(1 + exp(x)), written as max(x, 0) + log1p(exp(-|x|)) so
// that it neither overflows nor needs IsFinite (GoMLX's Softplus uses it;
// ONNX Runtime's backend lacks it).
func softplus(x *Node) *Node {
	return Add(Max(x, ZerosLike(x)), Log1p(Exp(Neg(Abs(x)))))
}
