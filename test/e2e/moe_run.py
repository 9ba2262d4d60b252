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
    return run_mlir_calls(source, [inputs], num_outputs, function, extra_args)[0]


def run_mlir_calls(source, calls, num_outputs=1, function=None, extra_args=()):
    """run_mlir for every list of inputs in `calls`, with one compile:
    returns each call's outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.mlir")
        with open(model, "w") as f:
            f.write(source)
        return run_model_calls(model, calls, num_outputs, function, extra_args, tmp)


def run_onnx(model_proto, inputs, num_outputs=1, extra_args=()):
    """Saves an onnx.ModelProto and runs it through moe-run."""
    return run_onnx_calls(model_proto, [inputs], num_outputs, extra_args)[0]


def run_onnx_calls(model_proto, calls, num_outputs=1, extra_args=()):
    """run_onnx for every list of inputs in `calls`, with one compile:
    returns each call's outputs."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.onnx")
        onnx.save(model_proto, model)
        return run_model_calls(model, calls, num_outputs, None, extra_args, tmp)


def run_model(model, inputs, num_outputs, function, extra_args, tmp):
    """Runs moe-run on the model file `model`, with scratch space in `tmp`."""
    return run_model_calls(model, [inputs], num_outputs, function, extra_args, tmp)[0]


def first_result(model, x, tmp):
    """The first result of the model file `model` on its one input `x`,
    compiled at -O0 (the fastest compile: for checks of numbers)."""
    return run_model(str(model), [x], 1, None, ("-O0",), str(tmp))[0]


def run_model_calls(model, calls, num_outputs, function, extra_args, tmp):
    """Runs moe-run once on `model` for every list of inputs in `calls` (one
    JIT compile for all); returns each call's outputs."""
    args = [MOE_RUN, model]
    if function:
        args.append(f"--function={function}")
    outputs = []
    for c, inputs in enumerate(calls):
        for i, value in enumerate(inputs):
            path = os.path.join(tmp, f"c{c}.in{i}.npy")
            np.save(path, value)
            args.append(f"--input=@{path}")
        outputs.append([os.path.join(tmp, f"c{c}.out{i}.npy") for i in range(num_outputs)])
    args += [f"--output=@{p}" for call in outputs for p in call]
    args += list(extra_args)
    result = subprocess.run(args, capture_output=True, text=True,
                            timeout=int(os.environ.get("MOE_RUN_TIMEOUT", "600")))
    if result.returncode != 0:
        raise RuntimeError(f"moe-run failed ({result.returncode}):\n{result.stderr}")
    return [[np.load(p) for p in call] for call in outputs]
