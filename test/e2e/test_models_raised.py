"""The committed real ONNX MoE models (test/models) raised into the moe
dialect, then run: moe-opt applies --onnx-infer-shapes and --onnx-raise-moe,
moe-run compiles the result (moe ops sparsely, the rest of the graph through
the generic ONNX lowerings) and its outputs are compared with the saved
onnxruntime outputs, exactly like test_models_unraised.py, which runs the
same exports without raising. So every raised export is checked three ways:
raised vs onnxruntime here, unraised vs onnxruntime there, hence raised vs
unraised.

RAISED lists the exports whose MoE layer the pass recognizes today with the
number of layers it must raise; a listed export that raises fewer layers is
a failure, and so is any layer raised in a negative control. Exports not
listed yet must still compile and match after the pass (the pass leaves
what it does not recognize untouched); where its output is the typed model
itself, byte for byte, test_models_unraised.py runs that module and it is
not run here again. test_summary prints the table (pytest -s)."""

import re

import pytest

from model_runs import (CASES, EXPORTS, assert_matches,  # noqa: E402
                        compare, export_id, run_all)

# export id -> MoE layers the pass must raise in it.
RAISED = {
    "deepseek_v3_stacked.ts17": 1,
    "deepseek_v3_stacked.dynamo18": 1,
    "gpt_oss_gathered.ts17": 1,
    "gpt_oss_gathered.dynamo18": 1,
    "hf_mixtral.batched_mm.ts17": 1,
    "hf_mixtral.batched_mm.dynamo18": 1,
    "hf_qwen2_moe.batched_mm.ts17": 1,
    "hf_qwen2_moe.batched_mm.dynamo18": 1,
    "hf_qwen3_moe.batched_mm.ts17": 1,
    "hf_qwen3_moe.batched_mm.dynamo18": 1,
    "hf_olmoe.batched_mm.ts17": 1,
    "hf_olmoe.batched_mm.dynamo18": 1,
    "hf_deepseek_v3.batched_mm.ts17": 1,
    "hf_deepseek_v3.batched_mm.dynamo18": 1,
    "hf_gpt_oss.batched_mm.ts17": 1,
    "hf_gpt_oss.batched_mm.dynamo18": 1,
    "hf_granitemoe.batched_mm.ts17": 1,
    "hf_granitemoe.batched_mm.dynamo18": 1,
    "hf_glm4_moe.batched_mm.ts17": 1,
    "hf_glm4_moe.batched_mm.dynamo18": 1,
    "hf_ernie4_5_moe.batched_mm.ts17": 1,
    "hf_ernie4_5_moe.batched_mm.dynamo18": 1,
    "hf_phimoe.batched_mm.ts17": 1,
    "hf_phimoe.batched_mm.dynamo18": 1,
    "mixtral_loop.ts17": 1,
    "mixtral_loop.dynamo18": 1,
    "hmoe_loop.ts17": 1,  # experts of different widths
    "hmoe_loop.dynamo18": 1,
    "olmoe_loop.ts17": 1,
    "olmoe_loop.dynamo18": 1,
    "qwen2_moe_loop.ts17": 1,
    "qwen2_moe_loop.dynamo18": 1,
    "switch_top1.ts17": 1,
    "switch_top1.dynamo18": 1,
    "switch_top1_capacity.ts17": 1,
    "switch_top1_capacity.dynamo18": 1,
    "dense_masked.ts17": 1,
    "dense_masked.dynamo18": 1,
    "expert_choice.ts17": 1,
    "expert_choice.dynamo18": 1,
    "hf_llama4.eager.ts17": 1,
    "hf_llama4.eager.dynamo18": 1,
    "hf_llama4.batched_mm.ts17": 1,
    "hf_llama4.batched_mm.dynamo18": 1,
}
# One raised export per model, its TorchScript one where there is one: for
# what acts on the raised moe ops, which both exporters of a model raise to.
ONE_EXPORT_PER_MODEL = sorted(key for key in RAISED if key.endswith(".ts17")
                              or key.replace(".dynamo18", ".ts17") not in RAISED)


@pytest.fixture(scope="module")
def outcomes():
    # Raised exports run every case they reproduce (T = 1 and sizes that are
    # no multiple of any tile) through moe-run's pipeline, which fuses the
    # gating, and the first case with the router and routing left apart too.
    # Fusing rewrites the raised moe ops, so the unfused run is needed on one
    # export per model; it compiles at -O3, as users run moe-run, where the
    # other runs take -O0 for compile time.
    # Where the pass changes nothing, the module is the typed model that
    # test_models_unraised.py runs (the same case too): it is not run again.
    return run_all(["--onnx-infer-shapes", "--onnx-raise-moe"], every=set(RAISED),
                   variants=((), ("--fuse-gating=false", "-O3")),
                   variants_for=set(ONE_EXPORT_PER_MODEL),
                   unless_same_as=["--onnx-infer-shapes"])


def raised_layers(text):
    return len(re.findall(r"= moe\.route ", text))


@pytest.mark.parametrize("name,tag,rec", EXPORTS,
                         ids=[export_id(n, t) for n, t, _ in EXPORTS])
def test_raised_model_matches_onnxruntime(outcomes, name, tag, rec):
    key = export_id(name, tag)
    error, results, text = outcomes[key]
    if not rec.get("must_raise", True) or name.startswith("neg_"):
        assert raised_layers(text) == 0, "a negative control was raised"
    elif key in RAISED:
        assert raised_layers(text) == RAISED[key], text[:2000]
    if results is None:
        assert key not in RAISED, "the pass left a listed export as it was"
        return
    if error:
        if key in RAISED:
            pytest.fail(error)
        pytest.xfail(error)
    assert_matches(results)


def test_summary(outcomes):
    """Prints which exports raise and run."""
    print()
    for name, tag, _ in EXPORTS:
        key = export_id(name, tag)
        error, results, text = outcomes[key]
        if results is None:
            print(f"  same {key}: the pass changed nothing (run by test_models_unraised)")
            continue
        bad = [CASES[c] for (c, _), pairs in results.items()
               if any(compare(g, e) for g, e in pairs)]
        status = "FAIL" if error or bad else "ok"
        print(f"  {status:4} {key}: {raised_layers(text)} raised"
              + (f"; {error}" if error else "")
              + (f"; wrong in cases {bad}" if bad else ""))
