"""Runs build/bin/moe-run on an MLIR function with numpy inputs."""

import os
import subprocess
import tempfile

import numpy as np
import pytest

BUILD_DIR = os.environ.get(
    "MOE_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
MOE_RUN = os.path.join(BUILD_DIR, "bin", "moe-run")
MOE_GPU_AOT = os.path.join(BUILD_DIR, "bin", "moe-gpu-aot")


def gpu_aot(module, lib, chip="sm_90a", check=True):
    """moe-gpu-aot `module` (a prepared .mlir or an .onnx) into the library
    `lib` for `chip`: skips the test where ptxas is missing; with `check`,
    fails unless it succeeded. Returns the CompletedProcess."""
    r = subprocess.run([MOE_GPU_AOT, "--chip", chip, "-o", str(lib), str(module)],
                       capture_output=True, text=True)
    if "ptxas not found" in r.stderr:
        pytest.skip("no ptxas")
    if check:
        assert r.returncode == 0, r.stderr
    return r


def run_mlir(source, inputs, num_outputs=1, function=None, extra_args=()):
    """Writes `source` and `inputs` to a temporary folder, runs moe-run and
    returns the outputs as numpy arrays."""
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.mlir")
        with open(model, "w") as f:
            f.write(source)
        return run_model(model, inputs, num_outputs, function, extra_args, tmp)


def run_onnx(model_proto, inputs, num_outputs=1, extra_args=()):
    """Saves an onnx.ModelProto and runs it through moe-run."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.onnx")
        onnx.save(model_proto, model)
        return run_model(model, inputs, num_outputs, None, extra_args, tmp)


def run_model(model, inputs, num_outputs, function, extra_args, tmp):
    """Runs moe-run on the model file `model`, with scratch space in `tmp`."""
    if True:
        args = [MOE_RUN, model]
        if function:
            args.append(f"--function={function}")
        for i, value in enumerate(inputs):
            path = os.path.join(tmp, f"in{i}.npy")
            np.save(path, value)
            args.append(f"--input=@{path}")
        outputs = [os.path.join(tmp, f"out{i}.npy") for i in range(num_outputs)]
        args += [f"--output=@{p}" for p in outputs]
        args += list(extra_args)
        result = subprocess.run(args, capture_output=True, text=True, timeout=int(os.environ.get("MOE_RUN_TIMEOUT", "600")))
        if result.returncode != 0:
            raise RuntimeError(f"moe-run failed ({result.returncode}):\n{result.stderr}")
        return [np.load(p) for p in outputs]
