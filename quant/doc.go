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
//
// # GGUF blocks kept as codes
//
// A llama.cpp GGUF file's Q8_0, Q4_0, Q4_1, Q5_0, Q4_K and Q6_K tensors are
// kept as codes by models.Load (weights.Blocks, installed by
// modeling.Params.SetBlocks under the weight's name with "_scale", "_zero"
// and "_min" beside it), in the same shape as this package's int8 and int4
// layouts: the row-major [rows, cols] weight (rows are outputs), codes
// grouped along each row, one scale per group. Every type maps onto ONNX
// Runtime's com.microsoft MatMulNBits (B [N=rows, K/block, block·bits/8],
// scales [N, K/block], optional zero_points, block a power of two >= 16,
// bits 4 or 8), which computes w = (q − zero)·scale:
//
//	GGUF  kept as                              MatMulNBits
//	Q8_0  int8 codes, f16 scale / 32           bits 8, block 32, q+128, zero 128
//	Q5_0  int8 codes q−16, f16 scale / 32      bits 8, block 32, q+128, zero 128
//	Q6_K  int8 codes q−32, f32 scale / 16      bits 8, block 16, q+128, zero 128
//	      (scale = d·sc, as ggml rounds it)
//	Q4_0  4-bit codes, f16 scale, zero 8 / 32  bits 4, block 32, zero 8
//	Q4_1  4-bit codes, f16 scale and min / 32  bits 4, block 32, float zero −min/scale
//	Q4_K  4-bit codes, f32 scale d·sc and      bits 4, block 32, float zero −min/scale
//	      min −dmin·m / 32
//
// The 4-bit codes are packed as MatMulNBits packs them (column 2i in the
// low nibble of a byte, 2i+1 in the high one), not as GGML does (value j
// and j+16 of a block in one byte). The scales are converted to float32
// (exactly: from float16 or already float32); a kept minimum becomes a
// float zero point, −min/scale, which is not exact in float32 (the fused
// product's tolerance covers it), while the graph here computes q·scale +
// min exactly as ggml does. 5- and 6-bit codes are widened to a byte
// (MatMulNBits has no 5- or 6-bit blocks): Q5_0 and Q6_K tensors take 8.5
// and 10 bits a weight in memory against 5.5 and 6.6 in the file; Q4_K's
// float32 scale and minimum per 32 make 6 bits against 4.5. The real Gemma 3
// 270M Q4_K_M (253 MB) is held in 280 MB, SmolLM2-135M Q4_1 (98 MB) in 97.
package quant
