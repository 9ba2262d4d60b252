"""The sm_90a (wgmma) and sm_80 (mma.sync tile and decode) grouped-matmul
kernels run in the block-level emulator (gpu_emulator/): every block of
the grid, against a float64 reference (one bf16 ulp), with the orderings
the kernels rely on checked and every result element written once (no GPU
needed)."""
import os
import shutil

import pytest

from moe_run import BUILD_DIR

pytest.importorskip("ml_dtypes")

from gpu_emulator import case, lowering  # noqa: E402

if not os.path.exists(lowering.MOE_OPT) or not shutil.which(lowering.MLIR_OPT):
    pytest.skip("moe-opt or mlir-opt-22 missing", allow_module_level=True)
assert os.path.samefile(os.path.dirname(os.path.dirname(lowering.MOE_OPT)), BUILD_DIR)

CASES = {
    # [E, K, N] weights (N-major B): a partial last k step (K = 72), N past
    # the column tiles, uneven groups with an empty one and a tail.
    "kn_k72_n200": dict(E=3, K=72, N=200),
    # Inf in the empty group's weights: group 0's partial step reads them
    # as its rows past K, which the kernel must zero.
    "kn_partial_step_zeroed": dict(E=3, K=200, N=136, bias="f32", inf_empty_group=True),
    "kn_f16_i32_offsets": dict(E=2, K=128, N=256, elt="f16", off="i32", wgmma_tile="128x128"),
    # Heterogeneous experts: NaN past each expert's K_g and N_g (weights,
    # bias, rows) must not reach the result.
    "extents": dict(E=3, K=72, N=144, extents=[(40, 144), (72, 8), (8, 136)], nan_pad=True),
    "extents_separate_swiglu": dict(E=2, K=200, N=208, layout="separate",
                                    extents=[(136, 208), (200, 96)], nan_pad=True),
    "interleaved_swiglu": dict(E=2, K=72, N=144, layout="interleaved"),
    "concatenated_clamped_swiglu": dict(E=2, K=200, N=272, layout="concatenated",
                                        alpha=1.702, beta=1.0, limit=7.0),
    "combine_epilogue": dict(E=3, K=72, N=200, combine=2),
    # [E, N, K] weights (transpose_rhs, K-major B).
    "nk_k72_n200": dict(E=3, K=72, N=200, trans=True, inf_empty_group=True),
    "nk_concatenated_swiglu": dict(E=2, K=200, N=144, trans=True, layout="concatenated"),
    "nk_combine_epilogue": dict(E=3, K=200, N=200, trans=True, combine=2),
    # Packed (QMoE) weights, expanded by the threads into the K-major stage:
    # 2, 4 and 8 bits, block and per-row scales of each type, zero points,
    # partial last steps (K = 288, 80), every gated layout.
    "q2_b16_zp_k288": dict(E=3, K=288, N=200, bits=2, block=16, zp=True),
    "q4_b32_zp_separate": dict(E=2, K=128, N=80, bits=4, block=32, zp=True,
                               layout="separate"),
    "q4_b64_concatenated": dict(E=2, K=192, N=272, bits=4, block=64, layout="concatenated"),
    "q4_b32_bf16_scales_interleaved": dict(E=2, K=128, N=144, bits=4, block=32, scale="bf16",
                                           layout="interleaved"),
    "q8_b16_f32_scales_zp_k80": dict(E=3, K=80, N=136, bits=8, block=16, scale="f32",
                                     zp=True),
    "q8_per_row": dict(E=3, K=80, N=136, bits=8),
    # Offsets past the row count (a caller's error): nothing is read or
    # written past the buffers (the out-of-bounds check), rows past `rows`
    # are dropped.
    "offsets_past_rows": dict(E=2, K=72, N=200, rows=200, offsets=[0, 70, 230]),
    "q4_offsets_past_rows": dict(E=2, K=128, N=72, bits=4, block=32, rows=200,
                                 offsets=[0, 150, 260]),
}

# The warp-specialized 128x256 tile (a producer warpgroup, two consumers
# handing stages back through mbarriers, a persistent grid): what
# wgmma-tile=auto takes for 16-bit weights with N >= 256 (128 outputs with
# gate/up boxes). The emulated device has 3 SMs (host.MULTIPROCESSORS), so
# most cases' blocks walk several tiles, the ring running on across them. K = 384 (6
# steps) wraps the 4-stage ring (the producer waits for released stages); N
# past the column tiles; separate gate/up weights (gate/up boxes of 128
# outputs; the whole-layer emulation runs the concatenated ones); offsets
# past the row count.
CASES.update({
    "ws_k384_n320_bias": dict(E=3, K=384, N=320, bias="f32", rows=140),
    # One SM: the block walks every tile, through the empty group to the
    # tail's, the ring wrapping across tiles of 2 steps.
    "ws_one_sm_walks_every_tile": dict(E=5, K=72, N=256, rows=420, sms=1),
    "ws_f16_i32_offsets_n512": dict(E=2, K=128, N=512, elt="f16", off="i32"),
    "ws_separate_swiglu": dict(E=2, K=192, N=272, layout="separate", rows=140),
    "ws_offsets_past_rows": dict(E=2, K=128, N=256, rows=200, offsets=[0, 70, 230]),
    # [E, N, K] weights (K-major B, the wgmma ops built directly): any K, the
    # TMA zero-filling past it (Inf in the empty group's weights, which the
    # boxes past N read as the next group's columns).
    "ws_nk_k72_n320": dict(E=3, K=72, N=320, trans=True, inf_empty_group=True),
    # [E, K, N] weights with a partial last step: the consumers zero what it
    # holds past K_g (Inf in the empty group's weights) and meet at a named
    # barrier before either's wgmma; past the ring's depth (K = 328: the
    # partial step refills a stage) with the fused combine; group_extents
    # with NaN past each expert's block.
    "ws_partial_step_zeroed": dict(E=3, K=200, N=256, bias="f32", inf_empty_group=True),
    "ws_k328_partial_step_combine": dict(E=3, K=328, N=256, combine=2, rows=140),
    "ws_extents": dict(E=3, K=72, N=320, extents=[(40, 320), (72, 8), (8, 264)],
                       nan_pad=True),
})

def _ws_wgmmas(offsets, k, n):
    """The wgmma instructions of the 128x256 tile: 4 per 64-deep k step for
    each consumer with rows in a tile (its 64), over a group's row tiles and
    the column tiles; none for the tail."""
    steps, column_tiles = -(-k // 64), -(-n // 256)
    consumers = 0
    for lo, hi in zip(offsets, offsets[1:]):
        consumers += sum(1 if hi - row <= 64 else 2 for row in range(lo, hi, 128))
    return 4 * steps * column_tiles * consumers


# A group's last tile with at most 64 rows (groups of 40, 130 and 100 rows:
# the 40, the 130's second tile with 2): its second consumer runs no wgmma,
# which leaves the tensor cores to the first. The numbers cannot show it,
# so the wgmmas are counted; ws_partial_step_zeroed has such a consumer
# zero its share of a partial step.
def test_ws_consumer_without_rows_skips_its_wgmmas(tmp_path):
    offsets = [0, 40, 170, 270]
    result = case.run(dict(E=3, K=128, N=256, rows=280, offsets=offsets), str(tmp_path),
                      "ws_consumer_without_rows")
    assert not result["problems"], result["problems"][:5]
    assert result["bad"] == 0, result
    assert result["wgmmas"] == _ws_wgmmas(offsets, 128, 256) == 48


# The sm_80 tile kernel (cp.async, ldmatrix, mma.sync): 128x128 tiles of 8
# warps on a 4-stage ring for weights of at least one tile of columns
# (N >= 128; 64 outputs with gate/up pairs), else 64x64 tiles of 4 warps on
# two. Few rows and columns, as each case runs every block.
SM80 = case.SM80_TILE
SM80_LARGE = dict(chip="sm_80", kernel="tile", rows=170)
SM80_CASES = {
    # The 128x128 tile: K = 200 (7 steps, the last partial) wraps the ring,
    # a group of more than 128 rows takes two row tiles, N past the column
    # tiles, an empty group with Inf weights, offsets past the row count.
    "sm80_large_k200_n136_bias": dict(E=3, K=200, N=136, bias="f32", inf_empty_group=True,
                                      chip="sm_80", kernel="tile", rows=200,
                                      offsets=[0, 140, 140, 190]),
    "sm80_large_nk_k136_f16": dict(E=2, K=136, N=136, trans=True, elt="f16", off="i32",
                                   chip="sm_80", kernel="tile", rows=200,
                                   offsets=[0, 40, 230]),
    "sm80_large_concatenated_swiglu_k136": dict(E=2, K=136, N=144, layout="concatenated",
                                                **SM80_LARGE),
    # Packed weights on the 128x128 tile: step i + 1's bits expanded into
    # stage (i + 1) % 4 (K = 160: 5 steps around the ring).
    "sm80_large_q4_b32_zp_k160": dict(E=2, K=160, N=136, bits=4, block=32, zp=True,
                                      chip="sm_80", kernel="tile", rows=200,
                                      offsets=[0, 140, 190]),
    "sm80_large_q4_b64_concatenated": dict(E=2, K=192, N=144, bits=4, block=64,
                                           layout="concatenated", **SM80_LARGE),
    # The 64x64 tile: narrower weights, and (mma_tile="64x64") forced on
    # weights the 128x128 one would take.
    "sm80_kn_k72_n200": dict(E=3, K=72, N=200, mma_tile="64x64", **SM80),
    "sm80_nk_k72_f16_bias": dict(E=3, K=72, N=72, trans=True, inf_empty_group=True, elt="f16",
                                 off="i32", bias="f32", **SM80),
    "sm80_q4_b32_zp_k288": dict(E=2, K=288, N=72, bits=4, block=32, zp=True, **SM80),
    "sm80_q8_per_row": dict(E=2, K=80, N=72, bits=8, **SM80),
    # The separate layout's activation is a kernel of its own here: it
    # reads the gate and up results rounded to bf16.
    "sm80_separate_swiglu": dict(E=2, K=72, N=72, layout="separate", rounded_matmuls=True,
                                 **SM80),
    "sm80_concatenated_swiglu": dict(E=2, K=72, N=144, layout="concatenated",
                                     mma_tile="64x64", **SM80),
    "sm80_combine_epilogue": dict(E=3, K=72, N=72, combine=2, **SM80),
    "sm80_extents": dict(E=3, K=72, N=136, extents=[(40, 136), (72, 8), (8, 72)],
                         nan_pad=True, mma_tile="64x64", **SM80),
    "sm80_offsets_past_rows": dict(E=2, K=72, N=72, offsets=[0, 70, 170], **SM80),
    # The decode kernel (warps split k, then reduce through shared memory):
    # a few rows, K past several warps' steps, groups 1 empty and a tail.
    "sm80_decode_kn_k520": dict(E=3, K=520, N=72, chip="sm_80", kernel="decode", rows=24,
                                offsets=[0, 5, 5, 14]),
    "sm80_decode_q4_b32_zp_k288": dict(E=2, K=288, N=72, bits=4, block=32, zp=True,
                                       chip="sm_80", kernel="decode", rows=20,
                                       offsets=[0, 6, 16]),
    # Blocks of 16: a lane's 32 packed values span two, whose scales load
    # as one vector and whose zero points share a byte (2 bits: at a shift
    # of 0 or 4 from the chunk's first block; a masked last step at K = 288).
    "decode_q2_b16_zp_k288": dict(E=3, K=288, N=72, bits=2, block=16, zp=True,
                                  kernel="decode", rows=24, offsets=[0, 5, 5, 14]),
    "sm80_decode_q4_b16_zp_separate": dict(E=2, K=256, N=72, bits=4, block=16, zp=True,
                                           layout="separate", chip="sm_80", kernel="decode",
                                           rows=20, offsets=[0, 6, 16]),
    # With no more blocks than SMs the decode kernel's 8-warp form: K split
    # 8 ways (K = 520: warp 0 also takes the masked ninth 64-row step), the
    # warps' sums added in two turns, the tail zeroed by 256 threads.
    "decode_wide_kn_k520": dict(E=3, K=520, N=72, kernel="decode", rows=24,
                                offsets=[0, 5, 5, 14], sms=1000),
    "sm80_decode_wide_q4_separate_bias": dict(E=3, K=128, N=72, layout="separate",
                                              bias="f32", bits=4, block=32, chip="sm_80",
                                              kernel="decode", rows=24,
                                              offsets=[0, 5, 5, 14], sms=1000),
}
CASES.update(SM80_CASES)

# A gated activation after a biased matmul (gpt-oss's gate/up bias) in the
# epilogue of each kernel: the gate column's bias and the up column's
# (interleaved: the next column; concatenated: N / 2 further) are added
# before the activation.
CASES.update({
    "bias_concatenated_ws": dict(E=3, K=72, N=512, layout="concatenated", bias="f32",
                                 rows=140),
    "bias_interleaved_wgmma": dict(E=3, K=72, N=272, layout="interleaved", bias="f32",
                                   wgmma_tile="128x128"),
    "sm80_bias_concatenated": dict(E=2, K=72, N=144, layout="concatenated", bias="bf16",
                                   mma_tile="64x64", **SM80),
    "sm80_decode_bias_interleaved": dict(E=3, K=72, N=144, layout="interleaved", bias="f32",
                                         chip="sm_80", kernel="decode", rows=40,
                                         offsets=[0, 12, 12, 30]),
    "decode_bias_concatenated": dict(E=3, K=72, N=272, layout="concatenated", bias="f32",
                                     kernel="decode", rows=40, offsets=[0, 12, 12, 30]),
})

# Separate gate and up weights with a bias each (onnxruntime MoE's fc1 and
# fc3 biases): output c adds column c of both, in every kernel; packed
# (QMoE) weights alike. With group_extents too (fused: a group's biases
# past its N_g, NaN here, are not read; interleaved weights likewise).
CASES.update({
    "separate_bias_ws": dict(E=3, K=72, N=256, layout="separate", bias="f32", rows=140),
    "separate_bias_wgmma": dict(E=3, K=72, N=144, layout="separate", bias="bf16",
                                wgmma_tile="128x128"),
    "sm80_separate_bias": dict(E=2, K=72, N=144, layout="separate", bias="f32", **SM80),
    "decode_separate_bias": dict(E=3, K=72, N=272, layout="separate", bias="f32",
                                 kernel="decode", rows=40, offsets=[0, 12, 12, 30]),
    "decode_q4_separate_bias": dict(E=3, K=64, N=96, layout="separate", bias="f32", bits=4,
                                    block=32, kernel="decode", rows=40,
                                    offsets=[0, 12, 12, 30]),
    "q4_zp_separate_bias": dict(E=2, K=128, N=80, bits=4, block=32, zp=True,
                                layout="separate", bias="f32"),
    "separate_bias_extents": dict(E=3, K=128, N=128, layout="separate", bias="f32",
                                  extents=[(128, 128), (64, 64), (128, 64)], nan_pad=True,
                                  wgmma_tile="128x128"),
    "ws_separate_bias_extents": dict(E=3, K=128, N=256, layout="separate", bias="f32",
                                     extents=[(128, 256), (64, 72), (128, 136)],
                                     nan_pad=True, rows=140),
    "sm80_interleaved_bias_extents": dict(E=3, K=72, N=144, layout="interleaved",
                                          bias="f32", extents=[(72, 144), (40, 64), (72, 8)],
                                          nan_pad=True, **SM80),
    "decode_separate_bias_extents": dict(E=3, K=128, N=128, layout="separate", bias="f32",
                                         extents=[(128, 128), (64, 64), (128, 72)],
                                         nan_pad=True, kernel="decode", rows=40,
                                         offsets=[0, 12, 12, 30]),
    "decode_interleaved_bias_extents": dict(E=3, K=72, N=144, layout="interleaved",
                                            bias="f32", extents=[(72, 144), (40, 64), (72, 8)],
                                            nan_pad=True, kernel="decode", rows=40,
                                            offsets=[0, 12, 12, 30]),
})


@pytest.mark.parametrize("name", sorted(CASES))
def test_grouped_matmul_kernel(name, tmp_path):
    result = case.run(CASES[name], str(tmp_path), name)
    assert not result["problems"], result["problems"][:5]
    assert result["bad"] == 0, result
