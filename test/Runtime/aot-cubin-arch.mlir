// The cubin that a library made by moe-gpu-aot embeds (and hands to
// cuModuleLoadData, here a fake driver's, which writes it out) is machine
// code for the chip asked for: sm_90a for Hopper (H100/H200), sm_80 for
// Ampere. A cubin runs only on its own major architecture.
// REQUIRES: ptxas, cuobjdump
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a -o %t.sm90a.so %s
// RUN: %clang -I%moe_include %S/Inputs/call-runtime.c %t.sm90a.so -o %t.sm90a.call
// RUN: env FAKE_CUDA_DUMP=%t.sm90a.cubin MOE_CUDA_DRIVER=%t.libcuda.so %t.sm90a.call | FileCheck %s --check-prefix=LOAD
// RUN: %cuobjdump --list-elf %t.sm90a.cubin | FileCheck %s --check-prefix=SM90A
// RUN: %cuobjdump -sass %t.sm90a.cubin | FileCheck %s --check-prefix=SASS90A
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_80 -o %t.sm80.so %s
// RUN: %clang -I%moe_include %S/Inputs/call-runtime.c %t.sm80.so -o %t.sm80.call
// RUN: env FAKE_CUDA_DUMP=%t.sm80.cubin MOE_CUDA_DRIVER=%t.libcuda.so %t.sm80.call | FileCheck %s --check-prefix=LOAD
// RUN: %cuobjdump --list-elf %t.sm80.cubin | FileCheck %s --check-prefix=SM80

// LOAD: cuModuleLoadData: ELF e_machine=190
// LOAD: chip: 'sm_
// SM90A: ELF file 1: {{.*}}.sm_90a.cubin
// SASS90A: code for sm_90a
// SASS90A: Function : grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256
// SASS90A: HGMMA.64x256x16.F32.BF16
// SM80: ELF file 1: {{.*}}.sm_80.cubin

func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
