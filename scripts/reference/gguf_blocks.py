"""Golden values for GGML's block types kept as codes and scales.

Writes models/weights/testdata/blocks.gguf: for each block type the Go
loader keeps (Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K), a [4, 512] tensor of
random blocks (random code bytes; the float16 scales and minimums drawn
finite and of either sign) under the type's lower-case name, and beside it,
as F32 "<name>.expected", what the gguf package's dequantize gives for it.

    .deps/venv/bin/python scripts/reference/gguf_blocks.py
"""

import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

ROWS, COLS = 4, 512

# Byte offsets of each type's float16 fields inside one block.
HALVES = {T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q4_K: [0, 2], T.Q6_K: [208]}


def blocks(rng, qtype):
    block, size = GGML_QUANT_SIZES[qtype]
    n = ROWS * COLS // block
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    for off in HALVES[qtype]:
        halves = (rng.standard_normal(n) * 0.05).astype(np.float16)
        raw[:, off:off + 2] = halves.view(np.uint8).reshape(n, 2)
    return raw.reshape(ROWS, COLS // block * size)


def main():
    rng = np.random.default_rng(31)
    out = pathlib.Path(__file__).resolve().parents[2] / "models/weights/testdata/blocks.gguf"
    w = GGUFWriter(str(out), "blocks")
    for qtype in HALVES:
        raw = blocks(rng, qtype)
        name = qtype.name.lower()
        w.add_tensor(name, raw, raw_dtype=qtype)
        expected = dequantize(raw, qtype).astype(np.float32).reshape(ROWS, COLS)
        assert np.isfinite(expected).all()
        w.add_tensor(name + ".expected", expected)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", out)


if __name__ == "__main__":
    main()
