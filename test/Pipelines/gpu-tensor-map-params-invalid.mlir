// RUN: moe-opt %s --moe-gpu-tensor-map-params --split-input-file -verify-diagnostics

// A kernel that is still a gpu.func: the NVVM lowering would drop the
// by-value attributes, so the pass must run after it.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @+1 {{'gpu.func' op moe-gpu-tensor-map-params: the kernel must be lowered to an llvm.func first (run after convert-gpu-to-nvvm)}}
    gpu.func @kernel(%a: !llvm.ptr) kernel attributes {moe.tensor_map_params = 1 : i64} {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @+1 {{moe.tensor_map_params must be a positive integer no larger than the 1 arguments, not 2 : i64}}
    llvm.func @kernel(%a: !llvm.ptr) attributes {gpu.kernel, moe.tensor_map_params = 2 : i64, nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @+1 {{moe.tensor_map_params must be a positive integer no larger than the 1 arguments, not "two"}}
    llvm.func @kernel(%a: !llvm.ptr) attributes {gpu.kernel, moe.tensor_map_params = "two", nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @+1 {{argument 1 must be an !llvm.ptr tensor map, not 'i64'}}
    llvm.func @kernel(%a: !llvm.ptr, %b: i64) attributes {gpu.kernel, moe.tensor_map_params = 1 : i64, nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

// A launch whose map operands are not yet pointers (the host still on
// memrefs and nvgpu descriptors: the pass runs after gpu-to-llvm).
module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @kernel(%a: !llvm.ptr, %b: !llvm.ptr) attributes {gpu.kernel, moe.tensor_map_params = 1 : i64, nvvm.kernel} {
      llvm.return
    }
  }
  llvm.func @host(%a: !llvm.ptr, %s: !llvm.ptr) {
    %c1 = llvm.mlir.constant(1 : index) : i64
    %x = llvm.mlir.constant(7 : i64) : i64
    // expected-error @+1 {{'gpu.launch_func' op moe-gpu-tensor-map-params: the last 1 kernel operands must be !llvm.ptr tensor maps (run after gpu-to-llvm)}}
    gpu.launch_func <%s : !llvm.ptr> @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) : i64 args(%a : !llvm.ptr, %x : i64)
    llvm.return
  }
}
