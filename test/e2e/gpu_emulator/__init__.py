"""A block-level emulator of the GPU kernels that --convert-moe-to-gpu
builds, to check their numbers on a machine without a GPU.

lowering.py lowers a grouped matmul (moe MLIR) as the GPU pipeline does,
up to the NVVM ops of the kernels (upstream --convert-nvgpu-to-nvvm), in
generic form. host.py runs the host function (allocations, memsets, tensor
maps as lib/Runtime/CUDA encodes them, every launch, every block) and
kernel.py each block: its threads as coroutines (each kernel translated
by compiler.py into a Python generator function) that meet at barriers,
shuffles and wgmma, mbarriers with transaction counts and phases, TMA loads
with the 128-byte swizzle and out-of-bounds zero fill, and wgmma reading
shared memory through its descriptors as the PTX ISA defines the K-major
and MN-major canonical layouts. Every shared-memory write and wgmma read is
logged, so that the orderings the kernels rely on (fences before wgmma,
no refill of a stage a pending wgmma reads, no race between threads) are
checked independently of the schedule the emulator happens to pick; every
global access is bounds-checked. case.py builds inputs and the float64
reference.

The sm_80 tile and decode kernels (chip=sm_80 kernel=tile|decode) run
through the same block: their workgroup buffers are static shared
segments; cp.async reads global at issue (src-size bytes, the rest zero
filled) and lands in shared memory at the wait_group that completes its
commit group, any access to bytes in flight being reported; ldmatrix
(x1/x2/x4, .trans), mma.sync m16n8k16 (bf16/f16 -> f32) and vote.sync
ballot meet per warp (a warp need not wait for the others), with the PTX
ISA's fragment layouts. The
emulator covers the ops of the sm_90a wgmma kernel and of the sm_80 tile
and decode kernels."""
