"""The main job on the bundled example: compile examples/moe_layer.onnx (an
onnxruntime MoE layer behind a router MatMul), show the raised moe IR, run it
with moe-run and check the numbers against onnxruntime.

Usage: .venv/bin/python examples/run_example.py [tokens]
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("MOE_BUILD_DIR", os.path.join(ROOT, "build")), "bin")
MODEL = os.path.join(ROOT, "examples", "moe_layer.onnx")


def main():
    tokens = int(sys.argv[1]) if len(sys.argv) > 1 else 37
    print("== moe-opt moe_layer.onnx --onnx-infer-shapes --onnx-raise-moe --moe-fuse-gating")
    subprocess.run([os.path.join(BIN, "moe-opt"), MODEL, "--onnx-infer-shapes",
                    "--onnx-raise-moe", "--moe-fuse-gating"], check=True)

    x = np.random.default_rng(0).standard_normal((tokens, 32)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        out_path = os.path.join(tmp, "out.npy")
        print(f"== moe-run moe_layer.onnx on {tokens} tokens")
        subprocess.run([os.path.join(BIN, "moe-run"), MODEL, f"--input=@{tmp}/x.npy",
                        f"--output=@{out_path}", "--benchmark-repetitions=20"], check=True)
        out = np.load(out_path)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    expected = ort.InferenceSession(MODEL, options, providers=["CPUExecutionProvider"]).run(
        None, {"hidden_states": x})[0]
    error = np.abs(out - expected).max() / np.abs(expected).max()
    print(f"== max error vs onnxruntime, relative to max |output|: {error:.2e}")
    if not error <= 1e-5:
        print("MISMATCH")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
