// The committed dialect and pass references must match what ODS generates.
// Refresh them with `cmake --build build --target moe-doc`.
// RUN: diff -u %moe_src/docs/Dialects/MoE.md %moe_gen/MoEDialect.md
// RUN: diff -u %moe_src/docs/Passes/MoE.md %moe_gen/MoEPasses.md
