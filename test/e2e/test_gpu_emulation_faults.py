"""Faults injected into the grouped-matmul kernels (test_gpu_emulation.py)
must be caught by the block-level emulator's checks: wrong numbers, or an
ordering, race or deadlock reported (no GPU needed). A file of its own so
that pytest-xdist runs it beside the cases."""
import os
import re
import shutil

import pytest

from moe_run import BUILD_DIR

pytest.importorskip("ml_dtypes")

from gpu_emulator import case, lowering  # noqa: E402

if not os.path.exists(lowering.MOE_OPT) or not shutil.which(lowering.MLIR_OPT):
    pytest.skip("moe-opt or mlir-opt-22 missing", allow_module_level=True)
assert os.path.samefile(os.path.dirname(os.path.dirname(lowering.MOE_OPT)), BUILD_DIR)


def _without_nth(pattern, i):
    """The text without the line of the i-th match of `pattern`."""
    def apply(text):
        at = [m.start() for m in re.finditer(pattern, text)][i]
        return text[:at] + text[text.index("\n", at + 1):]
    return apply


def _in_kernel(edit):
    """`edit` applied to the grouped-matmul kernel only (it comes first)."""
    def apply(text):
        i = text.index('sym_name = "grouped_matmul_wgmma')
        return edit(text[:i]) + text[i:]
    return apply


# Faults the checks must catch: the B descriptor's leading byte offset
# (the N-major B's 8 KB between its 64-column halves) doubled gives wrong
# numbers; without the proxy fence after the partial step's zeroing, or
# with the wgmma groups of three steps in flight (a refill then overwrites
# a stage a pending wgmma reads: 5 steps), the orderings are reported.
MUTATIONS = {
    "b_leading_offset": (
        _in_kernel(lambda t: t.replace("<{value = 512 : i64}>", "<{value = 1024 : i64}>", 1)),
        dict(E=3, K=72, N=200), "bad"),
    "no_proxy_fence": (
        _in_kernel(lambda t: re.sub(r'\s*"nvvm.fence.proxy"\(\)[^\n]*', "", t, count=1)),
        dict(E=3, K=72, N=200), "problems"),
    "wait_group_3": (
        _in_kernel(lambda t: t.replace("<{group = 1 : i64}>", "<{group = 3 : i64}>", 1)),
        dict(E=2, K=264, N=136), "problems"),
    # The warp-specialized tile: a consumer that hands a stage back with two
    # wgmma groups in flight (reported: the one reading it may still run
    # when the producer refills it), and a producer that does not wait for
    # the stage to be handed back (its wait is the kernel's first: the
    # refill completes a phase of the stage's full mbarrier that no
    # consumer has waited for yet, and the consumers wait forever); and
    # consumers that do not meet after zeroing a partial step (one's zeros
    # race with the other's wgmma).
    "ws_wait_group_2": (
        _in_kernel(lambda t: t.replace("<{group = 1 : i64}>", "<{group = 2 : i64}>", 1)),
        dict(E=2, K=384, N=256), "problems"),
    "ws_no_named_barrier": (
        _in_kernel(lambda t: re.sub(r'\n\s*"nvvm.barrier"\([^\n]*', "", t, count=1)),
        dict(E=3, K=200, N=256, inf_empty_group=True), "problems"),
    "ws_producer_no_wait": (
        _in_kernel(lambda t: re.sub(r'\n\s*"nvvm.mbarrier.try_wait.parity"[^\n]*', "", t,
                                    count=1)),
        dict(E=2, K=384, N=256), "problems"),
    # Consumers that never hand back a tile's last stage (the arrival after
    # their wait_group 0): the persistent producer, on to the block's next
    # tile, waits for it forever.
    "ws_tile_end_no_handback": (
        _in_kernel(_without_nth(r'\n[^\n]*"nvvm.mbarrier.arrive"\(', 1)),
        dict(E=2, K=256, N=256, rows=500), "problems"),
    # A consumer without rows in a tile that does not hand its stages back:
    # the producer waits for them forever.
    "ws_consumer_without_rows_no_handback": (
        _in_kernel(_without_nth(r'\n[^\n]*"nvvm.mbarrier.arrive"\(', 2)),
        dict(E=2, K=384, N=256, rows=160, offsets=[0, 40, 150]), "problems"),
}


def _without_barrier(i):
    """The kernels' text without their i-th gpu.barrier."""
    return _without_nth(r'\n\s*"gpu.barrier"\(\)', i)


# sm_80: the B fragments' ldmatrix without .trans (the [E, K, N] weights are
# N-major in shared memory) gives wrong numbers; waiting for one cp.async
# group too few (wait_group 1 on the 2-stage ring, 3 on the 4-stage one:
# the step's copies still in flight when ldmatrix reads them) is reported,
# and so is the main loop without its barrier (the other threads' copies
# read before they are known to have landed, and a refill of the stage
# other warps may still be reading), although the numbers here come out
# right; so is the decode kernel's reduction reading the warps' partial
# sums without the barrier after they are stored.
MUTATIONS.update({
    "sm80_no_loop_barrier": (
        _without_barrier(0), dict(E=2, K=72, N=72, **case.SM80_TILE), "problems"),
    "sm80_large_no_loop_barrier": (
        _without_barrier(0), dict(E=2, K=200, N=128, **case.SM80_TILE), "problems"),
    "sm80_large_cp_async_wait_3": (
        lambda t: t.replace("<{n = 2 : i32}>", "<{n = 3 : i32}>", 1),
        dict(E=2, K=200, N=128, **case.SM80_TILE), "problems"),
    "sm80_decode_no_reduce_barrier": (
        _without_barrier(0), dict(E=2, K=72, N=72, chip="sm_80", kernel="decode", rows=20,
                                  offsets=[0, 6, 16]), "problems"),
    # The wide form's second turn adding to the slots before the first turn
    # stored them (its first barrier: the 4-warp form's 4 come first).
    "decode_wide_no_turn_barrier": (
        _without_barrier(4), dict(E=2, K=72, N=72, kernel="decode", rows=20,
                                  offsets=[0, 6, 16], sms=1000), "problems"),
    "sm80_ldmatrix_no_trans": (
        lambda t: t.replace("layout = #nvvm.mma_layout<col>", "layout = #nvvm.mma_layout<row>"),
        dict(E=2, K=72, N=72, **case.SM80_TILE), "bad"),
    "sm80_cp_async_wait_1": (
        lambda t: t.replace("<{n = 0 : i32}>", "<{n = 1 : i32}>", 1),
        dict(E=2, K=72, N=72, **case.SM80_TILE), "problems"),
})


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_emulator_catches(name, tmp_path):
    mutate, config, symptom = MUTATIONS[name]
    result = case.run(config, str(tmp_path), name, mutate=mutate)
    if symptom == "bad":
        assert result["bad"] > 0, result
    else:
        assert result["problems"], result
