//===- ReportFailedChecks.cpp - cf.assert as a call that reports ----------===//
//
// A failed check must end the run with an error naming the ONNX node, not
// with upstream's puts + abort (SIGABRT, which reads as a crash). Each
// cf.assert becomes a conditional branch to a block that calls the runner's
// error function with the message; the runner prints it and exits.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Conversion/LLVMCommon/PrintCallHelper.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace moe {
#define GEN_PASS_DEF_MOEREPORTFAILEDCHECKS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

struct ReportFailedChecksPass
    : moe::impl::MoEReportFailedChecksBase<ReportFailedChecksPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<cf::AssertOp> asserts;
    module.walk([&](cf::AssertOp op) { asserts.push_back(op); });
    LLVMTypeConverter converter(&getContext());
    SymbolTableCollection symbolTables;
    IRRewriter rewriter(&getContext());
    for (cf::AssertOp op : asserts) {
      Block *block = op->getBlock();
      rewriter.setInsertionPoint(op);
      Block *continuation =
          rewriter.splitBlock(block, std::next(op->getIterator()));
      Block *failure = rewriter.createBlock(continuation);
      if (failed(LLVM::createPrintStrCall(rewriter, op.getLoc(), module,
                                          "moe_check_message", op.getMsg(),
                                          converter, /*addNewline=*/false,
                                          StringRef(function), &symbolTables)))
        return signalPassFailure();
      LLVM::UnreachableOp::create(rewriter, op.getLoc());
      rewriter.setInsertionPoint(op);
      rewriter.replaceOpWithNewOp<cf::CondBranchOp>(op, op.getArg(),
                                                    continuation, failure);
    }
  }
};

} // namespace
