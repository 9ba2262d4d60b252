"""Every routing family of MOE_REFERENCE.md section 1 and every expert form,
written in the moe dialect, compiled by the CPU path (convert-moe-to-linalg +
moe-cpu-pipeline inside moe-run) and compared with the numpy reference."""

import os
import zlib

import numpy as np
import pytest

from moe_opt.layers import Layer
from moe_run import run_mlir, run_mlir_calls

LAYERS = {
    "mixtral": dict(k=2, renormalize=True, activation="silu", gate_layout="separate"),
    "qwen_no_norm": dict(experts=8, k=4, activation="silu", gate_layout="separate"),
    "deepseek_v3": dict(experts=8, score="sigmoid", k=2, renormalize=True, epsilon=1e-20,
                        scaling_factor=2.5, selection_bias=True, num_groups=4,
                        topk_groups=2, activation="silu", gate_layout="concatenated"),
    # Ernie 4.5 divides by max(sum, epsilon); a large epsilon makes the
    # clamp bite for most tokens (two of four softmax scores sum below 0.9).
    "ernie_clamp": dict(k=2, renormalize=True, epsilon=0.9, renormalize_clamp=True,
                        selection_bias=True, activation="silu", gate_layout="concatenated"),
    # PhiMoE: a wide jitter so that the softmax of a slot covers 1 to E
    # experts across tokens.
    "phimoe_sparsemixer": dict(score="sparsemixer", k=2, jitter_eps=0.4, scaling_factor=1.5,
                               activation="silu", gate_layout="concatenated"),
    "switch_capacity": dict(k=1, capacity=2, drop_policy="in_order", activation="relu",
                            expert_biases=True),
    # Switch Transformers: capacity counted per sequence (groups of 3
    # tokens; 7 and 33 tokens end with a shorter group).
    "switch_per_sequence": dict(k=1, capacity=1, drop_policy="in_order", group_size=3,
                                activation="relu"),
    "capacity_by_weight": dict(k=2, capacity=3, drop_policy="by_weight",
                               activation="gelu_tanh"),
    "gpt_oss": dict(router_bias=True, score="softmax_after_topk", k=2, activation="silu",
                    gate_layout="interleaved", alpha=1.702, beta=1.0, limit=7.0,
                    transposed=True, expert_biases=True),
    "llama4": dict(score="sigmoid", k=1, activation="silu", gate_layout="separate"),
    "top_p": dict(experts=6, mode="top_p", k=3, top_p=0.4, activation="gelu"),
    "masked": dict(experts=5, k=2, expert_mask=[True, False, True, True, False],
                   activation="identity"),
    "hmoe": dict(inter=[8, 16, 24, 40], k=2, activation="aglu", kappa=0.8, lam=1.5),
    "hmoe_gated": dict(inter=[4, 12, 20], experts=3, k=2, activation="silu",
                       gate_layout="concatenated", transposed=True, expert_biases=True),
    "apa_i32": dict(k=2, activation="apa", lam=0.5, index_type="i32"),
    # Dynamic skipping: slots s >= 1 with w_s < skip_ratio * w_0 dropped.
    "skip_top4": dict(experts=8, k=4, renormalize=True, skip_ratio=0.3, activation="gelu"),
    "skip_deepseek": dict(experts=8, score="sigmoid", k=2, renormalize=True,
                          selection_bias=True, num_groups=4, topk_groups=2, skip_ratio=0.9,
                          activation="silu", gate_layout="concatenated"),
    "skip_capacity": dict(k=2, capacity=3, drop_policy="by_weight", skip_ratio=0.95,
                          activation="relu"),
}


def assert_layer_matches(layer, token_counts):
    """Runs `layer` (one compile) at each token count and compares with its
    reference."""
    xs = [np.random.default_rng(tokens).standard_normal((tokens, layer.hidden))
          .astype(np.float32) for tokens in token_counts]
    params = list(layer.params.values())
    outs = run_mlir_calls(layer.mlir(), [[x] + params for x in xs])
    for x, (out,) in zip(xs, outs):
        expected = layer.reference(x)
        np.testing.assert_allclose(out, expected, rtol=1e-5,
                                   atol=1e-5 * max(1.0, np.abs(expected).max()),
                                   err_msg=f"{len(x)} tokens")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_reference(name):
    assert_layer_matches(Layer(seed=zlib.crc32(name.encode()) % 1000, **LAYERS[name]),
                         [1, 7, 33])


FUSED = ["mixtral", "deepseek_v3", "ernie_clamp", "phimoe_sparsemixer", "gpt_oss", "top_p", "masked", "skip_top4"]


@pytest.mark.parametrize("name", FUSED)
def test_fused_route_matches_reference(name):
    """moe.fused_route: router logits, scores, selection and weights of a
    token computed in one kernel."""
    layer = Layer(seed=zlib.crc32(name.encode()) % 1000, fused=True, **LAYERS[name])
    assert "moe.fused_route" in layer.mlir()
    assert_layer_matches(layer, [1, 9])


def expert_choice_layer(fused):
    return Layer(mode="expert_choice", k=None, capacity_factor=2.0, activation="gelu",
                 fused=fused)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("tokens", [1, 10, 33])
def test_expert_choice_static(tokens, fused):
    """Expert choice with the token count known at compile time, for its
    static capacity."""
    layer = expert_choice_layer(fused)
    x = np.random.default_rng(tokens).standard_normal((tokens, layer.hidden)).astype(np.float32)
    (out,) = run_mlir(layer.mlir(tokens), [x] + list(layer.params.values()))
    expected = layer.reference(x)
    np.testing.assert_allclose(out, expected, rtol=1e-5,
                               atol=1e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("fused", [False, True])
def test_expert_choice_dynamic(fused):
    """Expert choice with a dynamic token count: the capacity computed at
    run time."""
    assert_layer_matches(expert_choice_layer(fused), [1, 10, 33])


def test_float16_layer():
    layer = Layer(k=2, renormalize=True, activation="silu", gate_layout="separate",
                  dtype=np.float16)
    x = np.random.default_rng(5).standard_normal((9, layer.hidden)).astype(np.float16)
    (out,) = run_mlir(layer.mlir(), [x] + list(layer.params.values()))
    expected = layer.reference(x)
    # f16 storage: about 3 decimal digits.
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=2e-2,
                               atol=2e-2 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["capacity_by_weight", "skip_capacity", "switch_per_sequence"])
def test_capacity_layers_as_gpu_layers(name, tmp_path):
    """The capacities the GPU dispatch counts in its own ways (each expert's
    heaviest slots for by_weight; per group of G tokens, G an index argument
    of the layer): prepared as bf16 GPU layers, the module still matches the
    reference on the CPU within bf16 rounding (dropped slots, which differ
    from kept ones by far more, included), and moe-gpu-aot compiles the
    layer."""
    import subprocess

    from moe_run import BUILD_DIR, gpu_aot

    layer = Layer(seed=zlib.crc32(name.encode()) % 1000, **LAYERS[name])
    source, prepared = tmp_path / "layer.mlir", tmp_path / "prepared.mlir"
    source.write_text(layer.mlir())
    r = subprocess.run([os.path.join(BUILD_DIR, "bin", "moe-opt"), str(source),
                        "--moe-fuse-gating", "--moe-expand-experts", "--moe-prepare-gpu-layers",
                        "-o", str(prepared)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "moe.gpu_layer" in prepared.read_text()
    xs = [np.random.default_rng(tokens).standard_normal((tokens, layer.hidden))
          .astype(np.float32) for tokens in (7, 33)]
    outs = run_mlir_calls(prepared.read_text(), [[x] + list(layer.params.values()) for x in xs])
    for x, (out,) in zip(xs, outs):
        expected = layer.reference(x)
        assert np.max(np.abs(out - expected)) <= 2.5e-2 * np.max(np.abs(expected)), len(x)
    gpu_aot(prepared, tmp_path / "layer.so")
