"""Whole GPU layers in the block-level emulator (gpu_emulator/layer.py):
each MoE form's layer, as --moe-prepare-gpu-layers outlines it (bf16 or
f16), runs through the GPU lowering (routing, dispatch, grouped matmuls
with their fused activations, combine, and the host code that launches
them) in the emulator, and the same layer prepared in the model's f32 runs
through the CPU lowering on the same values: the reference. The CPU
lowering is the one test_gpu_layers.py checks against onnxruntime on these
exports, so this checks the GPU code against onnxruntime without a GPU.
Every block of every launch runs, with the emulator's ordering, race and
bounds checks.
"""
import os
import re
import shutil

import numpy as np
import pytest

from moe_run import BUILD_DIR

pytest.importorskip("ml_dtypes")

from gpu_emulator import host, kernel, layer, lowering  # noqa: E402
from gpu_emulator.kernel import BF16  # noqa: E402

if not os.path.exists(lowering.MOE_OPT) or not shutil.which(lowering.MLIR_OPT):
    pytest.skip("moe-opt or mlir-opt-22 missing", allow_module_level=True)
assert os.path.samefile(os.path.dirname(os.path.dirname(lowering.MOE_OPT)), BUILD_DIR)

MODELS = os.path.join(os.path.dirname(__file__), "..", "models")
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "moe_layer.onnx")
ONNX_INPUTS = os.path.join(os.path.dirname(__file__), "..", "Conversion", "ONNXToMoE", "Inputs")
# Max |GPU - f32 layer| over max |f32 layer|: what bf16 (f16) rounding of
# the rows, weights, activations and result leaves (measured on these
# layers: at most 9.4e-3, and 5e-4 with f16; the CPU's own bf16 layer, which
# also rounds each matmul before the activation, is off by up to 1.7e-2).
TOLERANCE = 1.5e-2
F16_TOLERANCE = 2.5e-3
# Tokens: few enough for the decode kernels (rows <= 16 E), or enough rows
# for the tile kernels where the case forces them.
DECODE, TILE = 5, 24

# name -> (model, --convert-moe-to-gpu options, tokens). Together: every
# routing form (softmax with and without renormalization, softmax after
# top-k with a router bias, sigmoid with groups and a selection bias,
# renormalize_clamp, sparsemixer, expert choice, top-1 with a capacity and
# per sequence), every gated layout, biases, experts of different widths,
# scaled rows with an unweighted combine, weights kept [out, in], f16,
# compressed experts; both chips, the decode and tile kernels, both
# combines. A fourth element holds Layer's element, passes or prepare.
LAYERS = {
    "mixtral_sm90a_decode": ("mixtral_loop.ts17", "chip=sm_90a", DECODE),
    "mixtral_sm90a_wgmma": ("mixtral_loop.ts17", "chip=sm_90a kernel=tile", TILE),
    "deepseek_sm90a_wgmma_epilogue": ("deepseek_v3_stacked.ts17",
                                      "chip=sm_90a kernel=tile combine=epilogue", TILE),
    "deepseek_sm80_decode": ("deepseek_v3_stacked.ts17", "chip=sm_80", DECODE),
    "gpt_oss_sm90a_decode": ("gpt_oss_gathered.ts17", "chip=sm_90a", DECODE),
    "gpt_oss_sm80_tile": ("gpt_oss_gathered.ts17", "chip=sm_80 kernel=tile", TILE),
    "qwen3_sm80_tile_epilogue": ("hf_qwen3_moe.batched_mm.dynamo18",
                                 "chip=sm_80 kernel=tile combine=epilogue", TILE),
    "ernie_sm90a_decode": ("hf_ernie4_5_moe.batched_mm.ts17", "chip=sm_90a", DECODE),
    "glm4_sm80_decode_epilogue": ("hf_glm4_moe.batched_mm.ts17",
                                  "chip=sm_80 combine=epilogue", DECODE),
    "phimoe_sm90a_wgmma": ("hf_phimoe.batched_mm.ts17", "chip=sm_90a kernel=tile", TILE),
    "hmoe_sm90a_wgmma": ("hmoe_loop.ts17", "chip=sm_90a kernel=tile", TILE),
    "hmoe_sm80_decode": ("hmoe_loop.ts17", "chip=sm_80", DECODE),
    "switch_capacity_sm90a_wgmma": ("switch_top1_capacity.ts17", "chip=sm_90a kernel=tile",
                                    TILE),
    "switch_capacity_sm80_epilogue": ("switch_top1_capacity.ts17",
                                      "chip=sm_80 kernel=tile combine=epilogue", TILE),
    "expert_choice_sm90a_decode": ("expert_choice.ts17", "chip=sm_90a", DECODE),
    "expert_choice_sm80_tile": ("expert_choice.ts17", "chip=sm_80 kernel=tile", TILE),
    "llama4_sm90a_wgmma_epilogue": ("hf_llama4.eager.ts17",
                                    "chip=sm_90a kernel=tile combine=epilogue", TILE),
    "llama4_sm80_decode": ("hf_llama4.batched_mm.dynamo18", "chip=sm_80", DECODE),
    # keep-transposed: the [out, in] weights as stored ([E, N, K] kernels).
    "keep_transposed_sm90a_wgmma": ("hf_mixtral.batched_mm.ts17", "chip=sm_90a kernel=tile",
                                    TILE, dict(prepare="keep-transposed=true")),
    "keep_transposed_sm80_tile_epilogue": ("hf_qwen3_moe.batched_mm.dynamo18",
                                           "chip=sm_80 kernel=tile combine=epilogue", TILE,
                                           dict(prepare="keep-transposed=true")),
    "keep_transposed_sm80_decode": ("gpt_oss_gathered.ts17", "chip=sm_80", DECODE,
                                    dict(prepare="keep-transposed=true")),
    # f16 layers.
    "f16_sm90a_wgmma": ("mixtral_loop.ts17", "chip=sm_90a kernel=tile", TILE,
                        dict(element="f16")),
    "f16_sm80_decode": ("gpt_oss_gathered.ts17", "chip=sm_80", DECODE, dict(element="f16")),
    # Compressed experts (--moe-compress-experts): low-rank matmuls and the
    # scatter-columns kernel adding the kept residual columns; rank 4 and 30%
    # of the columns kept are padded to multiples of 8.
    "compressed_sm80_decode": ("mixtral_loop.ts17", "chip=sm_80", DECODE,
                               dict(passes=["--moe-compress-experts=rank=8 keep-fraction=0.5 "
                                            "min-saving=-10"])),
    "compressed_narrow_sm90a": ("example", "chip=sm_90a", DECODE,
                                dict(passes=["--moe-compress-experts=rank=4 keep-fraction=0.3 "
                                             "min-saving=-10"])),
}


def synthetic(path, experts, hidden, inter, k, route, dispatch="", mode="token_choice"):
    """A raised layer (f32, concatenated SwiGLU) with the routing attributes
    `route` (in `mode`) and the dispatch attributes `dispatch` (by_weight
takes the routing weights), to split the routing and
    dispatch kernels further than the exports do (E past a warp's lanes, k
    slots past a warp, H past a warp's vector loads)."""
    x, e1 = f"tensor<?x{hidden}xf32>", experts + 1
    rows = f"tensor<?x{k}xi64>"
    weights = f" weights(%w : tensor<?x{k}xf32>)" if "by_weight" in dispatch else ""
    text = f"""func.func @main(%x: {x}, %wr: tensor<{experts}x{hidden}xf32>,
    %bias: tensor<{experts}xf32>, %w1: tensor<{experts}x{hidden}x{2 * inter}xf32>,
    %w2: tensor<{experts}x{inter}x{hidden}xf32>) -> {x} {{
  %w, %i = moe.fused_route <{mode}> {route} : {x}, tensor<{experts}x{hidden}xf32>
      -> tensor<?x{k}xf32>, {rows}
  %r, %off, %map = moe.dispatch %x, %i{weights} {{num_experts = {experts} : i64{dispatch}}}
      : {x}, {rows} -> {x}, tensor<{e1}xi64>, {rows}
  %0 = moe.grouped_matmul %r, %w1 offsets(%off) : ({x}, tensor<{experts}x{hidden}x{2 * inter}xf32>,
      tensor<{e1}xi64>) -> tensor<?x{2 * inter}xf32>
  %1 = moe.activation %0 {{activation = #moe.activation<silu>,
      gate_layout = #moe.gate_layout<concatenated>}} : (tensor<?x{2 * inter}xf32>)
      -> tensor<?x{inter}xf32>
  %2 = moe.grouped_matmul %1, %w2 offsets(%off) : (tensor<?x{inter}xf32>,
      tensor<{experts}x{inter}x{hidden}xf32>, tensor<{e1}xi64>) -> {x}
  %3 = moe.combine %2, %map, %w : ({x}, {rows}, tensor<?x{k}xf32>) -> {x}
  return %3 : {x}
}}
"""
    with open(path, "w") as f:
        f.write(text)
    return path


SYNTHETIC = {
    # 40 experts (two a lane), k = 6, H = 40; 45 tokens fill two dispatch
    # chunks of 256 slots.
    "softmax_e40_k6": (dict(experts=40, hidden=40, inter=8, k=6,
                            route="<softmax> %x, %wr {k = 6 : i64, renormalize}"), 45),
    # DeepSeek's selection: 64 experts in 8 groups, 3 groups kept by their
    # top-2 sum, a selection bias, scaled sigmoid weights.
    "sigmoid_groups_e64_k6": (dict(
        experts=64, hidden=24, inter=8, k=6,
        route="<sigmoid> %x, %wr selection_bias(%bias : tensor<64xf32>) {epsilon = 1.0e-20 : f64, "
              "group_topk = 2 : i64, k = 6 : i64, num_groups = 8 : i64, renormalize, "
              "scaling_factor = 2.5 : f64, topk_groups = 3 : i64}"), 12),
    # k = 32 slots a token (a warp's lanes each pick one).
    "softmax_e40_k32": (dict(experts=40, hidden=16, inter=8, k=32,
                             route="<softmax> %x, %wr {k = 32 : i64, renormalize}"), 6),
    # The shortest prefix reaching 0.6, at most 4 experts (id -1 past it).
    "top_p": (dict(experts=16, hidden=16, inter=8, k=4, mode="top_p",
                   route="<softmax> %x, %wr {k = 4 : i64, top_p = 0.6 : f64}"), 30),
    # Slots lighter than half the first one's skipped (id -1, no row).
    "skip_ratio": (dict(experts=16, hidden=16, inter=8, k=3,
                        route="<softmax> %x, %wr {k = 3 : i64, renormalize, "
                              "skip_ratio = 0.5 : f64}"), 30),
    # Pruned experts never selected.
    "expert_mask": (dict(experts=16, hidden=16, inter=8, k=2,
                         route="<softmax> %x, %wr {k = 2 : i64, expert_mask = array<i1: true, "
                               "false, true, true, false, true, true, true, true, true, true, "
                               "true, false, true, true, true>}"), 30),
    # Each expert keeps its 5 heaviest slots.
    "capacity_by_weight": (dict(experts=8, hidden=16, inter=8, k=2,
                                route="<softmax> %x, %wr {k = 2 : i64}",
                                dispatch=", capacity = 5 : i64, "
                                         "drop_policy = #moe.drop_policy<by_weight>"), 30),
}


def check(result, tolerance=TOLERANCE):
    assert not result["problems"], result["problems"][:5]
    assert result["error"] <= tolerance, result


# Layers run through their C entry (moe-gpu-entry-points: moe_layer_forward
# with device buffers, dims and one workspace that the intermediates share
# by lifetime, poisoned first): the entry's marshalling and workspace plan,
# around the same kernels. The others run the host function itself.
ENTRY = ["deepseek_sm90a_wgmma_epilogue", "expert_choice_sm80_tile", "llama4_sm80_decode",
         "compressed_sm80_decode", "hmoe_sm90a_wgmma", "gpt_oss_sm80_tile"]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_export_layer(name, tmp_path):
    model, options, tokens, prepare = (LAYERS[name] + ({},))[:4]
    path = EXAMPLE if model == "example" else os.path.join(MODELS, model + ".onnx")
    result = layer.run(path, options, tokens, str(tmp_path), entry=name in ENTRY, **prepare)
    check(result, F16_TOLERANCE if prepare.get("element") == "f16" else TOLERANCE)
    kernels = " ".join(result["kernels"])
    # The case runs the kernels it names.
    if "kernel=tile" in options:
        assert ("grouped_matmul_wgmma" in kernels) == ("sm_90a" in options), kernels
        assert "decode" not in kernels, kernels
    else:
        assert "grouped_matmul_decode" in kernels, kernels
    assert ("combine_" in kernels) == ("combine=epilogue" not in options), kernels


def test_per_sequence_capacity_entry(tmp_path):
    """The sequence length reaches the entry among its dims."""
    model = os.path.join(ONNX_INPUTS, "switch_capacity_per_sequence_3d_h16.onnx")
    check(layer.run(model, "chip=sm_90a", 21, str(tmp_path), index_values=[7], entry=True))


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_layer(name, tmp_path):
    shape, tokens = SYNTHETIC[name]
    model = synthetic(str(tmp_path / "model.mlir"), **shape)
    check(layer.run(model, "chip=sm_90a", tokens, str(tmp_path)))


def test_warp_specialized_layer(tmp_path):
    """A layer wide enough for sm_90a's warp-specialized 128x256 tile (H =
    256, I = 128): the fused SwiGLU matmul (gate/up boxes of 128 outputs)
    and the down matmul with the combine in its epilogue both run on it."""
    model = synthetic(str(tmp_path / "model.mlir"), experts=4, hidden=256, inter=128, k=2,
                      route="<softmax> %x, %wr {k = 2 : i64, renormalize}")
    result = layer.run(model, "chip=sm_90a kernel=tile combine=epilogue", 40, str(tmp_path))
    check(result)
    wide = [k for k in result["kernels"] if k.endswith("_ws256")]
    assert len(wide) == 2, result["kernels"]


def test_per_sequence_capacity_layer(tmp_path):
    """Switch's capacity per sequence: the sequence length is the layer's
    index argument (3 sequences of 7 tokens, capacity 2 of 3 experts)."""
    model = os.path.join(ONNX_INPUTS, "switch_capacity_per_sequence_3d_h16.onnx")
    result = layer.run(model, "chip=sm_80", 21, str(tmp_path), index_values=[7])
    check(result)


def test_separate_biased_swiglu_layer(tmp_path):
    """com.microsoft.MoE with fc1 (gate) and fc3 (up) biases: the SwiGLU
    matmul adds both in its epilogue (tile and decode kernels), no
    element-wise kernel runs."""
    from moe_opt.contrib_models import ContribMoE
    import onnx

    moe = ContribMoE(tokens=0, hidden=32, inter=64, experts=4, k=2, seed=5,
                     activation_type="swiglu", swiglu_fusion=0, with_bias=True)
    path = str(tmp_path / "moe.onnx")
    onnx.save(moe.model(), path)
    for options, tokens in [("chip=sm_90a kernel=tile", TILE), ("chip=sm_80", DECODE)]:
        result = layer.run(path, options, tokens, str(tmp_path))
        check(result)
        assert any("_silu_separate" in k and "_bias_" in k for k in result["kernels"]), \
            result["kernels"]
        assert not any(k.startswith("activation_") for k in result["kernels"]), \
            result["kernels"]


# com.microsoft.QMoE layers: the packed weights reach the kernels as they
# are. name -> (ContribQMoE arguments, (options, tokens) runs).
QMOE = {
    "int4_block16_interleaved_swiglu": (
        dict(bits=4, block_size=16, activation_type="swiglu", swiglu_fusion=1),
        [("chip=sm_90a kernel=tile", TILE), ("chip=sm_80", DECODE)]),
    # fc1 (gate) and fc3 (up) packed alike: one kernel reads both.
    "int4_block32_separate_swiglu": (
        dict(bits=4, block_size=32, activation_type="swiglu", swiglu_fusion=0),
        [("chip=sm_80 kernel=tile", TILE)]),
    "int8_zero_points_relu": (dict(bits=8, zero_points=True, activation_type="relu"),
                              [("chip=sm_90a", DECODE)]),
    "int2_block16_swiglu": (
        dict(bits=2, block_size=16, activation_type="swiglu", swiglu_fusion=1),
        [("chip=sm_90a kernel=tile combine=epilogue", TILE)]),
}


@pytest.mark.parametrize("name", sorted(QMOE))
def test_qmoe_layer(name, tmp_path):
    from moe_opt.contrib_models import ContribQMoE
    import onnx

    config, runs = QMOE[name]
    qmoe = ContribQMoE(tokens=0, hidden=32, inter=64, experts=4, k=2, seed=3, **config)
    path = str(tmp_path / "qmoe.onnx")
    onnx.save(qmoe.model(), path)
    for options, tokens in runs:
        result = layer.run(path, options, tokens, str(tmp_path))
        check(result)
        assert "moe.dequantize" in open(tmp_path / "layer.mlir").read()


# Routers of E * H elements past one block's share are split into slices of
# experts (grid.y), the last block of a token tile to arrive on its global
# counter routing the tile; bf16 routers with H a multiple of 64 take the
# tensor-core logits: name -> (E, H, k, routing, tokens, chip).
ROUTINGS = {
    # 3 slices of 16 experts, 2 token tiles (the second partial).
    "slices_softmax_e48_h2048": (48, 2048, 4, "<softmax> %x, %wr {k = 4 : i64, renormalize}",
                                 11, "sm_90a"),
    # The tensor-core logits past H (3 iterations of 64, the warps' trips
    # masked), in 2 rounds of 16 experts of which 12 lie past E = 20.
    "rounds_masked_e20_h192": (20, 192, 2, "<softmax> %x, %wr {k = 2 : i64, renormalize}",
                               13, "sm_80"),
    # H = 2560: each warp makes a trip of 4 iterations, then one more.
    "trip_and_rest_e16_h2560": (16, 2560, 2, "<softmax> %x, %wr {k = 2 : i64, renormalize}",
                                10, "sm_90a"),
    # 2 slices of 32 experts (the second past E = 40 from its 9th), H = 1024.
    "slices_masked_e40_h1024": (40, 1024, 3, "<softmax> %x, %wr {k = 3 : i64}", 9, "sm_90a"),
    # DeepSeek's selection over 4 slices.
    "slices_groups_e64_h2048": (
        64, 2048, 6, "<sigmoid> %x, %wr selection_bias(%bias : tensor<64xf32>) {epsilon = 1.0e-20 "
        ": f64, group_topk = 2 : i64, k = 6 : i64, num_groups = 8 : i64, renormalize, "
        "scaling_factor = 2.5 : f64, topk_groups = 3 : i64}", 8, "sm_80"),
}


@pytest.mark.parametrize("name", sorted(ROUTINGS))
def test_routing_slices(name, tmp_path):
    """The routing kernel alone (weights and ids, against the CPU lowering:
    the same experts, weights within 1e-5), and every tile's counter left at
    zero for the next launch."""
    e, h, k, routing, tokens, chip = ROUTINGS[name]
    src = tmp_path / "route.mlir"
    out = f"tensor<?x{k}xf32>, tensor<?x{k}xi64>"
    src.write_text(
        f"func.func @route(%x: tensor<?x{h}xbf16>, %wr: tensor<{e}x{h}xbf16>, "
        f"%bias: tensor<{e}xf32>) -> ({out}) {{\n"
        f"  %w, %i = moe.fused_route <token_choice> {routing} : tensor<?x{h}xbf16>, "
        f"tensor<{e}x{h}xbf16> -> {out}\n  return %w, %i : {out}\n}}\n")
    rng = np.random.default_rng(len(name))
    values = [rng.standard_normal((tokens, h)), rng.standard_normal((e, h)) * 4 / np.sqrt(h),
              rng.uniform(-0.5, 0.5, e)]
    values = [v.astype(np.float32).astype(t) for v, t in zip(values, (BF16, BF16, np.float32))]
    cpu_weights, cpu_ids = layer.run_cpu(str(src), "route", values, str(tmp_path), results=2)
    host_file, kernels_file = lowering.lower_file(str(src), f"chip={chip}", str(tmp_path), "r")
    _, problems, launches, buffers = host.run_host(host_file, kernels_file, values,
                                                  log=lambda *a: None)
    assert not problems, problems[:5]
    (route,) = [l for l in launches[:-1] if l["name"].startswith("fused_route")]
    # Slices of 16 experts per round, as many rounds as 32768 router
    # elements hold (LowerRouting.cpp).
    slice_experts = 16 * min(max(1, 32768 // (16 * h)), -(-e // 16))
    slices = -(-e // slice_experts)
    assert route["grid"][1] == slices, route["grid"]
    weights, ids = launches[-1]["results"]
    np.testing.assert_array_equal(ids.astype(np.int64), cpu_ids)
    np.testing.assert_allclose(weights, cpu_weights, rtol=0, atol=1e-5)
    if slices > 1:
        counters = host.memref_array(buffers, route["args"][-1])
        assert counters.dtype == np.uint32 and not counters.any(), counters


@pytest.mark.parametrize("capacity", [None, 150])
def test_dispatch_past_one_block(capacity, tmp_path):
    """300 tokens of k = 8 (2400 slots, 10 chunks: the count, scan and
    scatter kernels, 2 blocks each for count and scatter, not the one-block
    form): rows, offsets and row map exactly as the CPU lowering's."""
    e, h, k, tokens = 12, 16, 8, 300
    x, ids = f"tensor<?x{h}xbf16>", f"tensor<?x{k}xi64>"
    results = f"{x}, tensor<{e + 1}xi64>, {ids}"
    cap = f", capacity = {capacity} : i64, drop_policy = #moe.drop_policy<in_order>" \
        if capacity else ""
    src = tmp_path / "d.mlir"
    src.write_text(
        f"func.func @d(%x: {x}, %i: {ids}) -> ({results}) {{\n"
        f"  %r, %off, %map = moe.dispatch %x, %i {{num_experts = {e} : i64{cap}}} : {x}, "
        f"{ids} -> {results}\n  return %r, %off, %map : {results}\n}}\n")
    rng = np.random.default_rng(11)
    values = [rng.standard_normal((tokens, h)).astype(np.float32).astype(BF16),
              np.argsort(rng.random((tokens, e)), axis=1)[:, :k].astype(np.int64)]
    expected = layer.run_cpu(str(src), "d", values, str(tmp_path), results=3)
    host_file, kernels_file = lowering.lower_file(str(src), "chip=sm_80", str(tmp_path), "d")
    _, problems, launches, _ = host.run_host(host_file, kernels_file, values,
                                             log=lambda *a: None)
    assert not problems, problems[:5]
    names = [l["name"] for l in launches[:-1]]
    assert [n.split("_")[1] for n in names] == ["count", "scan", "scatter", "gather"], names
    assert launches[0]["grid"][0] == 2, launches[0]["grid"]
    rows, offsets, row_map = launches[-1]["results"]
    np.testing.assert_array_equal(offsets.astype(np.int64), expected[1])
    np.testing.assert_array_equal(row_map.astype(np.int64), expected[2])
    np.testing.assert_array_equal(rows.view(np.uint16), expected[0].view(np.uint16))
    if capacity:
        assert (row_map == np.uint64(2**64 - 1)).any()


def test_route_and_dispatch_c_entries(tmp_path):
    """moe_route (a router split into 3 slices) and moe_dispatch as the C
    API runs them: moe_gpu_route_dispatch and moe_gpu_dispatch_launch (from
    moe-gpu-entry-points) in the emulator, on workspaces of exactly the
    sizes that the library moe-gpu-aot builds reports (the routing's
    zeroed once, as GPU.h asks, the dispatch's poisoned), the routing run
    twice on its workspace (each call must leave the counters zero);
    weights, ids, rows, offsets and row map against the CPU lowering."""
    import ctypes

    from moe_run import gpu_aot

    e, h, k, tokens = 48, 2048, 4, 11
    x, ids, rows = f"tensor<?x{h}xbf16>", f"tensor<?x{k}xi64>", f"tensor<{e + 1}xi64>"
    results = f"tensor<?x{k}xf32>, {ids}, {x}, {rows}, {ids}"
    src = tmp_path / "f.mlir"
    src.write_text(
        f"func.func @f(%x: {x}, %wr: tensor<{e}x{h}xbf16>) -> ({results}) {{\n"
        f"  %w, %i = moe.fused_route <token_choice> <softmax> %x, %wr {{k = {k} : i64, "
        f"renormalize}} : {x}, tensor<{e}x{h}xbf16> -> tensor<?x{k}xf32>, {ids}\n"
        f"  %r, %off, %map = moe.dispatch %x, %i {{num_experts = {e} : i64}} : {x}, {ids} "
        f"-> {x}, {rows}, {ids}\n  return %w, %i, %r, %off, %map : {results}\n}}\n")
    rng = np.random.default_rng(5)
    values = [(rng.standard_normal((tokens, h))).astype(np.float32).astype(BF16),
              (rng.standard_normal((e, h)) * 4 / np.sqrt(h)).astype(np.float32).astype(BF16)]
    expected = layer.run_cpu(str(src), "f", values, str(tmp_path), results=5)

    gpu_aot(src, tmp_path / "f.so")
    library = ctypes.CDLL(str(tmp_path / "f.so"))
    for name in ("moe_route_workspace_size", "moe_dispatch_workspace_size"):
        getattr(library, name).restype = ctypes.c_int64
        getattr(library, name).argtypes = [ctypes.c_int] + [ctypes.c_int64] * 4
    sizes = [library.moe_route_workspace_size(0, e, h, k, tokens),
             library.moe_dispatch_workspace_size(0, e, h, k, tokens)]
    assert min(sizes) > 0, sizes

    host_file, kernels_file = lowering.lower_file(str(src), "chip=sm_90a", str(tmp_path), "c",
                                                  "moe-gpu-entry-points")
    buffers = kernel.Buffers()
    ptr = {name: kernel.Ptr(buffers.add(name, value), 0) for name, value in
           [("x", values[0]), ("router", values[1]),
            ("route_workspace", np.zeros(sizes[0], np.uint8)),
            ("dispatch_workspace", np.full(sizes[1], 0xFF, np.uint8))]}
    outputs = {"weights": (tokens, k, np.float32), "ids": (tokens, k, np.int64),
               "rows": (tokens * k, h, BF16), "offsets": (1, e + 1, np.int64),
               "row_map": (tokens, k, np.int64)}

    def poison():
        for name, (n, m, dt) in outputs.items():
            ptr[name] = kernel.Ptr(buffers.add(name, np.full(n * m * np.dtype(dt).itemsize,
                                                             0xFF, np.uint8)), 0)

    def read(name):
        n, m, dt = outputs[name]
        return np.frombuffer(buffers.data[name].tobytes(), dt).reshape(n, m)

    def call(function, args):
        returned, problems, launches, _ = host.run_host(
            host_file, kernels_file, args, log=lambda *a: None, function=function,
            buffers=buffers)
        assert returned == 0 and not problems, (returned, problems[:5])
        return launches

    poison()
    for _ in range(2):
        for name in ("weights", "ids"):
            buffers.data[name][:] = 0xFF
        launches = call("moe_gpu_route_dispatch",
                        [0, e, h, k, ptr["x"], ptr["router"], None, None, ptr["weights"],
                         ptr["ids"], tokens, ptr["route_workspace"], None])
        (route,) = launches[:-1]
        counters = host.memref_array(buffers, route["args"][-1])
        assert route["grid"][1] == 3 and not counters.any(), (route["grid"], counters)
        np.testing.assert_array_equal(read("ids"), expected[1])
        np.testing.assert_allclose(read("weights"), expected[0], rtol=0, atol=1e-5)
    call("moe_gpu_dispatch_launch",
         [0, e, h, k, ptr["x"], ptr["ids"], ptr["rows"], ptr["offsets"], ptr["row_map"], tokens,
          ptr["dispatch_workspace"], None])
    np.testing.assert_array_equal(read("offsets")[0], expected[3])
    np.testing.assert_array_equal(read("row_map"), expected[4])
    np.testing.assert_array_equal(read("rows").view(np.uint16),
                                  expected[2].view(np.uint16))


def _in_kernel(prefix, edit):
    """`edit` applied to the kernel whose name starts with `prefix` only (in
    generic form a kernel's name follows its body)."""
    def apply(text):
        at = text.index(f'sym_name = "{prefix}')
        start = text.rfind("sym_name = ", 0, at)
        return text[:start] + edit(text[start:at]) + text[at:]
    return apply


def _drop_first(op):
    return lambda t: re.sub(rf'\n\s*"{re.escape(op)}"\([^\n]*', "", t, count=1)


# Faults the layer checks must catch: ranks within a warp's lanes counted
# from the other side swap rows of one expert between tokens, which leaves
# the numbers right but breaks the dispatch's order; the dispatch count's lanes reading their warp's counts before
# __syncwarp, the routing kernel's warps reading each other's candidates
# before the barrier, are reported as races.
MUTATIONS = {
    "scatter_lanemask_gt": (
        _in_kernel("dispatch_rank", lambda t: t.replace("lanemask.lt", "lanemask.gt")),
        "problems"),
    "count_no_warp_sync": (_in_kernel("dispatch_rank", _drop_first("nvvm.bar.warp.sync")),
                           "problems"),
    "route_no_barrier": (_in_kernel("fused_route", _drop_first("gpu.barrier")), "problems"),
    # The softmax's exponentials multiplied by their sum instead of divided
    # by it (Qwen2-MoE: no renormalization after top-k to cancel it).
    "route_softmax_not_normalized": (
        _in_kernel("fused_route", lambda t: t.replace('"arith.divf"', '"arith.mulf"', 1)), "error",
        "hf_qwen2_moe.batched_mm.ts17"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_emulator_catches(name, tmp_path):
    mutate, symptom, model = (MUTATIONS[name] + ("mixtral_loop.ts17",))[:3]
    result = layer.run(os.path.join(MODELS, model + ".onnx"), "chip=sm_90a", 40, str(tmp_path),
                       mutate=mutate)
    if symptom == "error":
        assert result["error"] > 0.1, result
    else:
        assert result["problems"], result
