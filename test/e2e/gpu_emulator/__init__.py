"""A block-level emulator of the GPU kernels that --convert-moe-to-gpu
builds, to check their numbers on a machine without a GPU.

lowering.py lowers a grouped matmul (moe MLIR) as the GPU pipeline does,
up to the NVVM ops of the kernels (upstream --convert-nvgpu-to-nvvm), in
generic form. host.py runs the host function (allocations, memsets, tensor
maps as lib/Runtime/CUDA encodes them, every launch, every block) and
kernel.py each block: its threads as coroutines that meet at barriers,
shuffles and wgmma, mbarriers with transaction counts and phases, TMA loads
with the 128-byte swizzle and out-of-bounds zero fill, and wgmma reading
shared memory through its descriptors as the PTX ISA defines the K-major
and MN-major canonical layouts. Every shared-memory write and wgmma read is
logged, so that the orderings the kernels rely on (fences before wgmma,
no refill of a stage a pending wgmma reads, no race between threads) are
checked independently of the schedule the emulator happens to pick; every
global access is bounds-checked. case.py builds inputs and the float64
reference. The emulator covers the ops of the sm_90a wgmma kernel."""
