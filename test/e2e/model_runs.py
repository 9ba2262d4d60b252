"""Shared by the tests that run the committed test/models exports through
moe-opt and moe-run and compare with the saved onnxruntime outputs."""

import concurrent.futures
import json
import os
import subprocess
import tempfile

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from moe_run import BUILD_DIR, MOE_RUN  # noqa: E402

MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")
if not (os.path.exists(MOE_OPT) and os.path.exists(MOE_RUN)):
    pytest.skip("moe-opt/moe-run not built", allow_module_level=True)

MODELS = os.path.join(os.path.dirname(__file__), "..", "models")
with open(os.path.join(MODELS, "MANIFEST.json")) as _f:
    MANIFEST = json.load(_f)
CASES = [tuple(c) for c in MANIFEST["cases"]]
EXPORTS = [(e["name"], tag, rec) for e in MANIFEST["models"]
           for tag, rec in sorted(e.get("exports", {}).items()) if rec.get("ok")]
# Cases of dynamic exports: the ones unlike the export sample (size 1 first).
DYNAMIC_CASES = [i for i, c in enumerate(CASES) if c != CASES[0]]
ALL_CASES = os.environ.get("MOE_UNRAISED_ALL_CASES") == "1"
RTOL = 1e-5
TIMEOUT = int(os.environ.get("MOE_RUN_TIMEOUT", "600"))


def export_id(name, tag):
    return f"{name}.{tag}"


def cases_for(index, rec, every=False):
    """The cases to run: with `every` (or MOE_UNRAISED_ALL_CASES=1) all the
    export reproduces (dynamic exports: every token count), else one."""
    ok = {tuple(c) for c in rec.get("cases_ok", [CASES[0]])}
    valid = [i for i, c in enumerate(CASES) if c in ok]
    if every:
        return valid
    if rec.get("dynamic_ok"):
        return DYNAMIC_CASES if ALL_CASES else [DYNAMIC_CASES[index % len(DYNAMIC_CASES)]]
    return valid if ALL_CASES else valid[:1]


def first_error(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else "(no output)"


def run_export(index, rec, passes, every=False, variants=((),), unless_same_as=None):
    """Applies `passes` with moe-opt once, then runs the result's cases with
    moe-run -O0 (one compile for all), plainly and (first case only) with each
    tuple of extra moe-run flags in `variants[1:]`; returns
    (error line or None, {(case, variant): [(got, expected)]}, moe-opt's
    output text). With `unless_same_as` (other passes), nothing runs where
    those give the same module: the results are None."""
    path = os.path.join(MODELS, rec["file"])
    data = np.load(os.path.join(MODELS, rec["data"]))
    model = onnx.load(path, load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in weights]
    outputs = [o.name for o in model.graph.output]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        lowered = os.path.join(tmp, "lowered.mlir")
        r = subprocess.run(
            [MOE_OPT, path, *passes,
             "--mlir-elide-resource-strings-if-larger=100000000", "-o", lowered],
            capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            return f"moe-opt: {first_error(r.stderr)}", results, r.stderr
        with open(lowered) as f:
            text = f.read()
        if unless_same_as is not None:
            other = os.path.join(tmp, "other.mlir")
            r = subprocess.run(
                [MOE_OPT, path, *unless_same_as,
                 "--mlir-elide-resource-strings-if-larger=100000000", "-o", other],
                capture_output=True, text=True, timeout=TIMEOUT)
            if r.returncode == 0:
                with open(other) as f:
                    if f.read() == text:
                        return None, None, text
        cases = cases_for(index, rec, every)
        inputs_of, outputs_of = {}, {}
        for case in cases:
            inputs_of[case] = []
            for j, name in enumerate(inputs):
                p = os.path.join(tmp, f"c{case}.in{j}.npy")
                np.save(p, data[f"case{case}.input.{name}"])
                inputs_of[case].append(f"--input=@{p}")
            outputs_of[case] = [os.path.join(tmp, f"c{case}.out{j}.npy")
                                for j in range(len(outputs))]
        # moe-run compiles once for all the cases it is given (one set of
        # inputs per call); extra variants run on the first case only:
        # enough to show they agree, at a fraction of the compile time.
        # -O0: LLVM's optimizations take most of a compile. The -O3 code
        # users run is compared in the variants that ask for it and in the
        # tests that call moe-run plainly (layers, ops, panels).
        for variant in variants:
            run_cases = cases if variant == variants[0] else cases[:1]
            args = [MOE_RUN, lowered, "-O0", *list(variant)]
            for case in run_cases:
                args += inputs_of[case]
            for case in run_cases:
                args += [f"--output=@{p}" for p in outputs_of[case]]
            r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
            if r.returncode != 0:
                shown = ", ".join(str(CASES[c]) for c in run_cases)
                return (f"moe-run {' '.join(variant)} (cases {shown}): "
                        f"{first_error(r.stderr)}", results, text)
            for case in run_cases:
                results[case, variant] = [(np.load(p), data[f"case{case}.ort.{name}"])
                                          for p, name in zip(outputs_of[case], outputs)]
    return None, results, text


def run_all(passes, every=(), variants=((),), only=None, variants_for=None,
            unless_same_as=None):
    """run_export for every export (or those whose ids are in `only`), in
    parallel: {export id: outcome}. The exports whose ids are in `every` run
    all their cases, and `variants` too unless `variants_for` (a set of ids)
    leaves them out; `unless_same_as` as run_export's."""
    workers = int(os.environ.get("MOE_MODEL_JOBS", os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {}
        for i, (n, t, rec) in enumerate(EXPORTS):
            key = export_id(n, t)
            if only is not None and key not in only:
                continue
            runs_variants = key in every and (variants_for is None or key in variants_for)
            more = (key in every, variants if runs_variants else ((),), unless_same_as)
            futures[key] = pool.submit(run_export, i, rec, passes, *more)
        return {k: f.result() for k, f in futures.items()}


def compare(got, expected):
    """None when `got` matches, else a description of the mismatch."""
    if got.shape != expected.shape:
        return f"shape {got.shape} != {expected.shape}"
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype} != {expected.dtype}"
    if not np.issubdtype(expected.dtype, np.floating):
        return None if np.array_equal(got, expected) else "integer outputs differ"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    err = float(np.max(np.abs(got.astype(np.float64) - expected))) if expected.size else 0.0
    if err <= RTOL * max(scale, 1e-30):
        return None
    return f"max |diff| {err:.3g} > {RTOL} * max |ort| {scale:.3g}"


def assert_matches(results):
    """Fails on the first output of any case that does not match."""
    assert results, "no cases ran"
    for (case, variant), pairs in results.items():
        for j, (got, expected) in enumerate(pairs):
            problem = compare(got, expected)
            assert problem is None, (f"case {CASES[case]} {' '.join(variant)} "
                                     f"output {j}: {problem}")
