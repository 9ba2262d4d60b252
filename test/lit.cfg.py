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
config.substitutions.append(("%moe_src", config.moe_src_root))
config.substitutions.append(("%moe_obj", config.moe_obj_root))
config.substitutions.append(
    ("%moe_gen", os.path.join(config.moe_obj_root, "include", "moe", "Dialect", "MoE")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tools = [
    ToolSubst("moe-opt", unresolved="fatal"),
    ToolSubst("moe-run", unresolved="fatal"),
    # The stock mlir-translate, to prove that pipeline output is LLVM-only.
    ToolSubst("%mlir_translate", os.path.join(config.llvm_tools_dir, "mlir-translate"),
              unresolved="fatal"),
    # The stock mlir-opt from the LLVM install, for the plugin test.
    ToolSubst("%mlir_opt", os.path.join(config.llvm_tools_dir, "mlir-opt"),
              unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, [config.moe_tools_dir, config.llvm_tools_dir])
