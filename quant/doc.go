// Package quant quantizes the linear layers of any model family to int8,
// int4 or NF4 weights, saves and loads quantized model folders, and
// measures what quantization costs in accuracy (see Report).
//
//	m, _ := models.Load("gpt2", backend)
//	params := m.Params()
//	q, _ := quant.Apply(params, quant.Config{Scheme: quant.Int4, GroupSize: 64})
//	_ = quant.Save(m, q, "gpt2-int4") // models.Load("gpt2-int4", backend) reads it back
//
// A quantized weight is held as its integer codes and scales only, and a
// transform on the model's weights (modeling.Params.SetTransform)
// dequantizes it inside every graph, so the family's network file is
// untouched, every backend runs it, and LoRA adapters stack on top of it
// (QLoRA: Apply NF4, then lora.Apply, then train the adapters).
//
// On ONNX Runtime the fused route multiplies by the codes directly: a model
// loaded on a backend made by NewFusedBackend runs its int8 and int4
// products as com.microsoft MatMulNBits, with int8 activations by default,
// its compiled programs rewritten before they run (Config.Route, and
// docs/quantization.md for the speed and the accuracy). NF4, and every
// engine but onnx:cpu, take the dequantize route.
//
// Why not GoMLX's nn.QuantizedDense: its Linear and NF4 schemes take
// [in, out] weights whose scales are shared along the output axis (one
// scale per input row and block of outputs), while the schemes here (and
// GPTQ's, bitsandbytes' and llama.cpp's) share a scale along the input axis
// of each output channel; ONNX Runtime's GoMLX backend decomposes it into
// the same dequantize-then-multiply graph anyway. docs/benchmarks.md gives
// the speed this costs and what would close the gap.
package quant
