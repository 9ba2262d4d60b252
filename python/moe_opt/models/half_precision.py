"""Export fp16 and bf16 versions of two real MoE blocks for the raising
tests: a per-expert loop (Mixtral) and stacked gathered experts with
group-limited sigmoid routing (DeepSeek-V3), TorchScript opset 17.

    python -m moe_opt.models.half_precision --out test/models/half

The DeepSeek block routes in fp32 (its router casts the tokens up) while its
experts run in half precision, so the raised layer mixes types. Each
NAME.DTYPE.ts17.npz holds, per case, the input (bf16 as uint16 bits), the
half-precision torch output and the fp32 torch output of the same weights:
onnxruntime has no CPU kernels for much of bf16, so torch is the reference.
"""

from __future__ import annotations

import argparse
import io
import os
import warnings

import numpy as np
import onnx
import torch

from moe_opt.models import blocks

CASES = [(2, 5), (1, 1), (3, 7)]
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16}
NAMES = ["mixtral_loop", "deepseek_v3_stacked"]


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """bf16 travels as its uint16 bits (what moe-run reads and writes)."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def export(name: str, tag: str, out_dir: str) -> None:
    dtype = DTYPES[tag]
    module = blocks.build(name).to(dtype).eval()
    reference = blocks.build(name).eval()
    sample = torch.randn(*CASES[0], 16, generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    axes = {"hidden_states": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (sample.to(dtype),), buf, dynamo=False, opset_version=17,
                          input_names=["hidden_states"], output_names=["y"],
                          dynamic_axes=axes)
    model = onnx.load_from_string(buf.getvalue())
    base = os.path.join(out_dir, f"{name}.{tag}.ts17")
    onnx.save(model, base + ".onnx")
    data = {}
    for i, (batch, seq) in enumerate(CASES):
        x = torch.randn(batch, seq, 16, generator=torch.Generator().manual_seed(i + 1))
        with torch.no_grad():
            half = module(x.to(dtype))
            full = reference(x.to(dtype).float())
        data[f"case{i}.input.hidden_states"] = as_numpy(x.to(dtype))
        data[f"case{i}.torch.y"] = half.float().numpy()
        data[f"case{i}.fp32.y"] = full.numpy()
    np.savez(base + ".npz", **data)
    print(base + ".onnx", os.path.getsize(base + ".onnx"), "bytes")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="test/models/half")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in NAMES:
        for tag in DTYPES:
            export(name, tag, args.out)


if __name__ == "__main__":
    main()
