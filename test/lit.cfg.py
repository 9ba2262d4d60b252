# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtext", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs"]

config.substitutions.append(("%moe_libs", config.moe_lib_dir))
config.substitutions.append(("%moe_include", os.path.join(config.moe_src_root, "include")))
config.substitutions.append(("%moe_src", config.moe_src_root))
config.substitutions.append(("%moe_obj", config.moe_obj_root))
config.substitutions.append(
    ("%moe_gen", os.path.join(config.moe_obj_root, "include", "moe", "Dialect", "MoE")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tools = [
    ToolSubst("moe-opt", unresolved="fatal"),
    ToolSubst("moe-run", unresolved="fatal"),
    ToolSubst("moe-gpu-aot", unresolved="fatal"),
    # clang and the binutils of the LLVM install build and inspect the
    # runtime tests' programs and the libraries moe-gpu-aot makes.
    ToolSubst("%clang", os.path.join(config.llvm_tools_dir, "clang"),
              unresolved="fatal"),
    ToolSubst("%llvm_nm", os.path.join(config.llvm_tools_dir, "llvm-nm"),
              unresolved="fatal"),
    ToolSubst("%llvm_readelf", os.path.join(config.llvm_tools_dir, "llvm-readelf"),
              unresolved="fatal"),
    # The stock mlir-translate, to prove that pipeline output is LLVM-only.
    ToolSubst("%mlir_translate", os.path.join(config.llvm_tools_dir, "mlir-translate"),
              unresolved="fatal"),
    # The stock mlir-opt from the LLVM install, for the plugin test.
    ToolSubst("%mlir_opt", os.path.join(config.llvm_tools_dir, "mlir-opt"),
              unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, [config.moe_tools_dir, config.llvm_tools_dir])

# The project's venv Python (scripts/setup.sh), for the scripts under bench/.
import sys
venv_python = os.path.join(config.moe_src_root, ".venv", "bin", "python")
config.substitutions.append(
    ("%moe_python", venv_python if os.path.exists(venv_python) else sys.executable))

# CUDA's ptxas and cuobjdump assemble and disassemble the generated PTX; no GPU
# is needed. They come from PATH, a CUDA install, or the PyPI wheels
# (nvidia-cuda-nvcc-cu12, nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm) in the
# project's venv.
# Tests that need them say `REQUIRES: ptxas` / `cuobjdump` and are reported
# UNSUPPORTED where they are missing.
import glob
import shutil

def find_cuda_tool(name):
    venv_bins = sorted(glob.glob(os.path.join(
        config.moe_src_root, ".venv", "lib", "python3*", "site-packages",
        "nvidia", "*", "bin")))
    for directory in [None, "/usr/local/cuda/bin"] + venv_bins:
        path = shutil.which(name, path=directory)
        if path:
            return path
    return None

# torch is not a CI requirement (only generators and the GPU bench use it):
# tests that run it say `REQUIRES: torch`.
import subprocess
moe_python = venv_python if os.path.exists(venv_python) else sys.executable
if subprocess.run([moe_python, "-c", "import torch"], capture_output=True).returncode == 0:
    config.available_features.add("torch")

cuda_tools = {name: find_cuda_tool(name) for name in ["ptxas", "cuobjdump", "nvdisasm"]}
if cuda_tools["ptxas"]:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", cuda_tools["ptxas"]))
    lit_config.note("ptxas: " + cuda_tools["ptxas"])
# `cuobjdump -sass` runs nvdisasm, which it finds on PATH.
if cuda_tools["cuobjdump"] and cuda_tools["nvdisasm"]:
    config.available_features.add("cuobjdump")
    config.substitutions.append(("%cuobjdump", cuda_tools["cuobjdump"]))
    llvm_config.with_environment(
        "PATH", os.path.dirname(cuda_tools["nvdisasm"]), append_path=True)
    lit_config.note("cuobjdump: " + cuda_tools["cuobjdump"])
