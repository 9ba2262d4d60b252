// The committed dialect and pass references must match what ODS generates.
// Refresh them with `cmake --build build --target moe-doc`.
// RUN: diff -u %moe_src/docs/Dialects/MoE.md %moe_gen/MoEDialect.md
// RUN: diff -u %moe_src/docs/Passes/MoE.md %moe_gen/MoEPasses.md
// RUN: diff -u %moe_src/docs/Dialects/ONNX.md %moe_obj/include/moe/Dialect/ONNX/ONNXDialect.md
// RUN: diff -u %moe_src/docs/Passes/ONNX.md %moe_obj/include/moe/Dialect/ONNX/ONNXPasses.md
// RUN: diff -u %moe_src/docs/Passes/Conversion.md %moe_obj/include/moe/Conversion/ConversionPasses.md
