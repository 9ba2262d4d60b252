"""The committed real ONNX MoE models (test/models) run end to end WITHOUT
MoE raising: moe-opt imports each .onnx and applies only --onnx-infer-shapes
and --convert-onnx-to-linalg, so every node goes through the generic ONNX
lowerings; moe-run then compiles and runs the result (its own raising finds
no onnx.node left) on the inputs saved in NAME.EXPORTER.npz, and the outputs
are compared with the saved onnxruntime outputs (rtol 1e-5 relative to
max |output|).

Exports whose manifest entry has dynamic_ok run one case other than the
export sample, alternating between the size-1 case and the next one (so the
two exports of a model cover both); the others (shapes baked at export) run
the first case their entry lists in cases_ok. MOE_UNRAISED_ALL_CASES=1 runs
every valid case (about twice as long). An export that does not compile
or run is an xfail carrying the first error line, so the report lists
exactly what remains; a wrong result is a failure. All runs happen once, in
parallel, in a module fixture; test_summary prints the table (pytest -s)."""

import pytest

from model_runs import (CASES, EXPORTS, assert_matches,  # noqa: E402
                        compare, export_id, run_all)


@pytest.fixture(scope="module")
def outcomes():
    return run_all(["--onnx-infer-shapes", "--convert-onnx-to-linalg"])


@pytest.mark.parametrize("name,tag,rec", EXPORTS,
                         ids=[export_id(n, t) for n, t, _ in EXPORTS])
def test_unraised_model_matches_onnxruntime(outcomes, name, tag, rec):
    error, results, _ = outcomes[export_id(name, tag)]
    if error:
        pytest.xfail(error)
    assert_matches(results)


def test_summary(outcomes):
    """Prints what runs and what remains (first error line per export)."""
    ran, failing = [], []
    for name, tag, _ in EXPORTS:
        key = export_id(name, tag)
        error, results, _ = outcomes[key]
        if error:
            failing.append((key, error))
            continue
        bad = [CASES[c] for (c, _), pairs in results.items()
               if any(compare(g, e) for g, e in pairs)]
        (failing if bad else ran).append((key, f"wrong result in cases {bad}") if bad
                                         else (key, [CASES[c] for c, _ in results]))
    print(f"\nunraised: {len(ran)}/{len(EXPORTS)} exports run and match onnxruntime")
    for key, cases in ran:
        print(f"  ok    {key} {cases}")
    for key, error in failing:
        print(f"  FAIL  {key}: {error}")
