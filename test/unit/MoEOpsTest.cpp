//===- MoEOpsTest.cpp - C++ API tests of the moe dialect ------------------===//

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace moe;

namespace {

class MoEOpsTest : public ::testing::Test {
protected:
  MoEOpsTest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses `source`, collecting diagnostics instead of printing them.
  OwningOpRef<ModuleOp> parse(StringRef source) {
    return parseSourceString<ModuleOp>(source, &context);
  }

  MLIRContext context;
};

TEST_F(MoEOpsTest, ExpertCapacityMatchesExpertChoicePaper) {
  // C = ceil(T * c / E), at least 1 and at most T.
  EXPECT_EQ(RouteOp::getExpertCapacity(64, 8, 2.0), 16);
  EXPECT_EQ(RouteOp::getExpertCapacity(10, 8, 2.0), 3);
  EXPECT_EQ(RouteOp::getExpertCapacity(1, 64, 2.0), 1);
  EXPECT_EQ(RouteOp::getExpertCapacity(4, 2, 8.0), 4);
  EXPECT_EQ(RouteOp::getExpertCapacity(0, 8, 2.0), 0);
}

TEST_F(MoEOpsTest, BuildMixtralLayerAndVerify) {
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  int64_t dyn = ShapedType::kDynamic;
  auto t = [](ArrayRef<int64_t> shape, Type e) {
    return RankedTensorType::get(shape, e);
  };
  SmallVector<Type> args = {t({dyn, 16}, f32), t({4, 16}, f32),
                            t({4, 16, 32}, f32), t({4, 16, 32}, f32),
                            t({4, 32, 16}, f32)};
  auto func = func::FuncOp::create(
      b, loc, "layer", b.getFunctionType(args, {t({dyn, 16}, f32)}));
  Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  Value x = body->getArgument(0);

  auto gate = GateOp::create(b, loc, t({dyn, 4}, f32), x, body->getArgument(1),
                             Value());
  EXPECT_EQ(gate.getNumExperts(), 4);
  EXPECT_EQ(gate.getHiddenSize(), 16);
  auto route = RouteOp::create(
      b, loc, t({dyn, 2}, f32), t({dyn, 2}, i64), gate.getLogits(), Value(),
      RoutingMode::TokenChoice, ScoreFunction::Softmax, b.getI64IntegerAttr(2),
      /*renormalize=*/true, nullptr, /*renormalize_clamp=*/false, nullptr,
      nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
      /*skip_ratio=*/nullptr);
  auto dispatch = DispatchOp::create(
      b, loc, t({dyn, 16}, f32), t({5}, i64), t({dyn, 2}, i64), x,
      route.getIndices(), /*weights=*/Value(), /*group_size=*/Value(),
      /*num_experts=*/4, /*expert_choice=*/false, /*scale_rows=*/false, nullptr,
      nullptr, /*expert_map=*/nullptr);
  auto experts = ExpertsOp::create(
      b, loc, t({dyn, 16}, f32), dispatch.getRows(), dispatch.getOffsets(),
      ValueRange{body->getArgument(2), body->getArgument(3),
                 body->getArgument(4)},
      ValueRange{}, UnitAttr(), ActivationAttr::get(&context, Activation::Silu),
      GateLayoutAttr::get(&context, GateLayout::Separate), nullptr, nullptr,
      nullptr, nullptr, nullptr);
  EXPECT_TRUE(experts.isStacked());
  EXPECT_EQ(experts.getNumStages(), 3u);
  EXPECT_EQ(experts.getNumExperts(), 4);
  EXPECT_EQ(experts.getStageWeight(3, 2), body->getArgument(4));
  auto combine =
      CombineOp::create(b, loc, t({dyn, 16}, f32), experts.getResult(),
                        dispatch.getRowMap(), route.getWeights());
  func::ReturnOp::create(b, loc, combine.getResult());
  EXPECT_TRUE(succeeded(verify(*module)));

  // Breaking one relation makes verification fail with that relation named.
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  route.setK(3);
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_NE(message.find("weights must have shape [?, 3]"), std::string::npos)
      << message;
}

TEST_F(MoEOpsTest, PerExpertWeightsAreHeterogeneous) {
  auto module = parse(R"mlir(
    func.func @f(%rows: tensor<?x8xf32>, %off: tensor<3xi32>,
                 %u0: tensor<8x12xf32>, %d0: tensor<6x8xf32>,
                 %u1: tensor<8x20xf32>, %d1: tensor<10x8xf32>) -> tensor<?x8xf32> {
      %y = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1)
          {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>}
          : (tensor<?x8xf32>, tensor<3xi32>, tensor<8x12xf32>, tensor<6x8xf32>,
             tensor<8x20xf32>, tensor<10x8xf32>) -> tensor<?x8xf32>
      return %y : tensor<?x8xf32>
    })mlir");
  ASSERT_TRUE(module);
  auto func = cast<func::FuncOp>(module->getBody()->front());
  auto experts = cast<ExpertsOp>(func.getBody().front().front());
  EXPECT_FALSE(experts.isStacked());
  EXPECT_EQ(experts.getNumExperts(), 2);
  EXPECT_EQ(experts.getStageWeight(1, 0), func.getArgument(4));
  EXPECT_EQ(experts.getStageWeight(1, 1), func.getArgument(5));
}

} // namespace
