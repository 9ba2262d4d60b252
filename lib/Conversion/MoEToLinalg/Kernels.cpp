//===- Kernels.cpp - scalar kernels of moe.route and moe.dispatch ---------===//
//
// Routing and dispatch are data-dependent loops over tokens and experts;
// written here once as MLIR (scf, tensor and a few scratch memrefs) instead
// of being assembled op by op in C++. The lowering patterns call them with
// the op's attributes as constant operands; inlining and canonicalization
// then specialize every call site.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

// The scratch space and per-token call shared by __moe_route and
// __moe_gate_route, which differ only in how a token's logits are made.
static constexpr const char *kRouteScratch = R"mlir(
  %scores = memref.alloca(%E) : memref<?xf32>
  %choice = memref.alloca(%E) : memref<?xf32>
  %taken = memref.alloca(%E) : memref<?xi1>
  %G = arith.maxui %groups, %c1 : index
  %group_score = memref.alloca(%G) : memref<?xf32>
  %group_kept = memref.alloca(%G) : memref<?xi1>
  %chosen = memref.alloca(%k) : memref<?xf32>
  %w_init = tensor.empty(%T, %k) : tensor<?x?xf32>
  %i_init = tensor.empty(%T, %k) : tensor<?x?xi64>
)mlir";

static constexpr const char *kRouteRowCall = R"mlir(
    %row:2 = func.call @__moe_route_row(%scores, %choice, %taken, %group_score,
        %group_kept, %chosen, %bias, %mask, %score, %k, %renorm, %eps, %scale,
        %groups, %topk_groups, %group_topk, %use_top_p, %top_p, %W, %I, %t)
        : (memref<?xf32>, memref<?xf32>, memref<?xi1>, memref<?xf32>, memref<?xi1>,
           memref<?xf32>, tensor<?xf32>, tensor<?xi1>, i32, index, i1, f32, f32,
           index, index, index, i1, f32, tensor<?x?xf32>, tensor<?x?xi64>, index)
        -> (tensor<?x?xf32>, tensor<?x?xi64>)
    scf.yield %row#0, %row#1 : tensor<?x?xf32>, tensor<?x?xi64>
)mlir";

static constexpr const char *kRoutingKernels = R"mlir(
// Index of the largest vals[e], lo <= e < hi, not marked taken; ties pick the
// lowest index (torch and onnxruntime agree); -1 when everything is taken.
func.func private @__moe_argmax(%vals: memref<?xf32>, %taken: memref<?xi1>,
                                %lo: index, %hi: index) -> i64 {
  %c1 = arith.constant 1 : index
  %c0_i64 = arith.constant 0 : i64
  %none = arith.constant -1 : i64
  %ninf = arith.constant 0xFF800000 : f32
  %true = arith.constant true
  %best:2 = scf.for %e = %lo to %hi step %c1 iter_args(%bv = %ninf, %bi = %none) -> (f32, i64) {
    %tk = memref.load %taken[%e] : memref<?xi1>
    %v = memref.load %vals[%e] : memref<?xf32>
    %ei = arith.index_cast %e : index to i64
    %unset = arith.cmpi slt, %bi, %c0_i64 : i64
    %gt = arith.cmpf ogt, %v, %bv : f32
    %better = arith.ori %unset, %gt : i1
    %free = arith.xori %tk, %true : i1
    %ok = arith.andi %free, %better : i1
    %nv = arith.select %ok, %v, %bv : f32
    %ni = arith.select %ok, %ei, %bi : i64
    scf.yield %nv, %ni : f32, i64
  }
  return %best#1 : i64
}

// Softmax of `v` in place: exp(v - max) / sum.
func.func private @__moe_softmax(%v: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %n = memref.dim %v, %c0 : memref<?xf32>
  %max = scf.for %i = %c0 to %n step %c1 iter_args(%m = %ninf) -> (f32) {
    %x = memref.load %v[%i] : memref<?xf32>
    %m2 = arith.maximumf %m, %x : f32
    scf.yield %m2 : f32
  }
  %sum = scf.for %i = %c0 to %n step %c1 iter_args(%s = %zero) -> (f32) {
    %x = memref.load %v[%i] : memref<?xf32>
    %d = arith.subf %x, %max : f32
    %e = math.exp %d : f32
    memref.store %e, %v[%i] : memref<?xf32>
    %s2 = arith.addf %s, %e : f32
    scf.yield %s2 : f32
  }
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %v[%i] : memref<?xf32>
    %p = arith.divf %x, %sum : f32
    memref.store %p, %v[%i] : memref<?xf32>
  }
  return
}

// Scores of one token in place: 0 softmax, 1 sigmoid, 2 raw logits.
func.func private @__moe_scores(%scores: memref<?xf32>, %score: i32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c0_i32 = arith.constant 0 : i32
  %c1_i32 = arith.constant 1 : i32
  %one = arith.constant 1.0 : f32
  %E = memref.dim %scores, %c0 : memref<?xf32>
  %is_softmax = arith.cmpi eq, %score, %c0_i32 : i32
  %is_sigmoid = arith.cmpi eq, %score, %c1_i32 : i32
  scf.if %is_softmax {
    func.call @__moe_softmax(%scores) : (memref<?xf32>) -> ()
  }
  scf.if %is_sigmoid {
    scf.for %e = %c0 to %E step %c1 {
      %v = memref.load %scores[%e] : memref<?xf32>
      %n = arith.negf %v : f32
      %x = math.exp %n : f32
      %d = arith.addf %one, %x : f32
      %s = arith.divf %one, %d : f32
      memref.store %s, %scores[%e] : memref<?xf32>
    }
  }
  return
}

// Routing of token %t: %scores holds its masked logits on entry. Writes row
// %t of the weights %W and the indices %I. The memrefs are scratch space of
// the caller, sized E, E, E, max(groups, 1), max(groups, 1) and k.
func.func private @__moe_route_row(
    %scores: memref<?xf32>, %choice: memref<?xf32>, %taken: memref<?xi1>,
    %group_score: memref<?xf32>, %group_kept: memref<?xi1>, %chosen: memref<?xf32>,
    %bias: tensor<?xf32>, %mask: tensor<?xi1>,
    %score: i32, %k: index, %renorm: i1, %eps: f32, %scale: f32,
    %groups: index, %topk_groups: index, %group_topk: index,
    %use_top_p: i1, %top_p: f32,
    %W: tensor<?x?xf32>, %I: tensor<?x?xi64>, %t: index)
    -> (tensor<?x?xf32>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2_i32 = arith.constant 2 : i32
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %none = arith.constant -1 : i64
  %false = arith.constant false
  %true = arith.constant true
  %E = memref.dim %scores, %c0 : memref<?xf32>
  %is_after_topk = arith.cmpi eq, %score, %c2_i32 : i32
  %has_groups = arith.cmpi ugt, %groups, %c0 : index
  func.call @__moe_scores(%scores, %score) : (memref<?xf32>, i32) -> ()
  // Selection runs on the biased scores; masked experts stay at -inf.
  scf.for %e = %c0 to %E step %c1 {
    %s = memref.load %scores[%e] : memref<?xf32>
    %b = tensor.extract %bias[%e] : tensor<?xf32>
    %c = arith.addf %s, %b : f32
    %keep = tensor.extract %mask[%e] : tensor<?xi1>
    %c2 = arith.select %keep, %c, %ninf : f32
    memref.store %c2, %choice[%e] : memref<?xf32>
    memref.store %false, %taken[%e] : memref<?xi1>
  }
  // Group-limited selection: a group scores the sum of its group_topk best
  // choices; experts outside the topk_groups best groups drop to -inf.
  scf.if %has_groups {
    %per = arith.divui %E, %groups : index
    scf.for %g = %c0 to %groups step %c1 {
      %lo = arith.muli %g, %per : index
      %hi = arith.addi %lo, %per : index
      %sum = scf.for %j = %c0 to %group_topk step %c1 iter_args(%acc = %zero) -> (f32) {
        %bi = func.call @__moe_argmax(%choice, %taken, %lo, %hi)
            : (memref<?xf32>, memref<?xi1>, index, index) -> i64
        %b = arith.index_cast %bi : i64 to index
        memref.store %true, %taken[%b] : memref<?xi1>
        %v = memref.load %choice[%b] : memref<?xf32>
        %acc2 = arith.addf %acc, %v : f32
        scf.yield %acc2 : f32
      }
      scf.for %e = %lo to %hi step %c1 {
        memref.store %false, %taken[%e] : memref<?xi1>
      }
      memref.store %sum, %group_score[%g] : memref<?xf32>
      memref.store %false, %group_kept[%g] : memref<?xi1>
    }
    scf.for %j = %c0 to %topk_groups step %c1 {
      %gi = func.call @__moe_argmax(%group_score, %group_kept, %c0, %groups)
          : (memref<?xf32>, memref<?xi1>, index, index) -> i64
      %g = arith.index_cast %gi : i64 to index
      memref.store %true, %group_kept[%g] : memref<?xi1>
    }
    scf.for %e = %c0 to %E step %c1 {
      %g = arith.divui %e, %per : index
      %kept = memref.load %group_kept[%g] : memref<?xi1>
      %c = memref.load %choice[%e] : memref<?xf32>
      %c2 = arith.select %kept, %c, %ninf : f32
      memref.store %c2, %choice[%e] : memref<?xf32>
    }
  }
  // Top-k in descending order. In top_p mode a slot is used while the
  // scores before it sum to less than p.
  %sel:2 = scf.for %j = %c0 to %k step %c1 iter_args(%I1 = %I, %cum = %zero)
      -> (tensor<?x?xi64>, f32) {
    %bi = func.call @__moe_argmax(%choice, %taken, %c0, %E)
        : (memref<?xf32>, memref<?xi1>, index, index) -> i64
    %b = arith.index_cast %bi : i64 to index
    memref.store %true, %taken[%b] : memref<?xi1>
    %p = memref.load %scores[%b] : memref<?xf32>
    %below = arith.cmpf olt, %cum, %top_p : f32
    %no_top_p = arith.xori %use_top_p, %true : i1
    %used = arith.ori %no_top_p, %below : i1
    %id = arith.select %used, %bi, %none : i64
    %w = arith.select %used, %p, %zero : f32
    memref.store %w, %chosen[%j] : memref<?xf32>
    %I2 = tensor.insert %id into %I1[%t, %j] : tensor<?x?xi64>
    %cum2 = arith.addf %cum, %p : f32
    scf.yield %I2, %cum2 : tensor<?x?xi64>, f32
  }
  // softmax_after_topk: softmax over the chosen (the first is the largest).
  scf.if %is_after_topk {
    func.call @__moe_softmax(%chosen) : (memref<?xf32>) -> ()
  }
  %total = scf.for %j = %c0 to %k step %c1 iter_args(%s = %zero) -> (f32) {
    %v = memref.load %chosen[%j] : memref<?xf32>
    %s2 = arith.addf %s, %v : f32
    scf.yield %s2 : f32
  }
  // %eps < 0 is renormalize_clamp: divide by max(sum, -%eps) (Ernie 4.5).
  %clamp = arith.cmpf olt, %eps, %zero : f32
  %floor = arith.negf %eps : f32
  %clamped = arith.maximumf %total, %floor : f32
  %added = arith.addf %total, %eps : f32
  %denom = arith.select %clamp, %clamped, %added : f32
  %W2 = scf.for %j = %c0 to %k step %c1 iter_args(%W1 = %W) -> (tensor<?x?xf32>) {
    %v = memref.load %chosen[%j] : memref<?xf32>
    %n = arith.divf %v, %denom : f32
    %r = arith.select %renorm, %n, %v : f32
    %s = arith.mulf %r, %scale : f32
    %W3 = tensor.insert %s into %W1[%t, %j] : tensor<?x?xf32>
    scf.yield %W3 : tensor<?x?xf32>
  }
  return %W2, %sel#0 : tensor<?x?xf32>, tensor<?x?xi64>
}

// Token-choice and top-p routing (moe.route), one token per iteration.
// Attributes arrive as constant operands, so that after inlining,
// canonicalization folds every branch the op's attributes rule out.
//   %groups = 0: no group-limited selection; %use_top_p: top_p mode.
func.func private @__moe_route(
    %logits: tensor<?x?xf32>, %bias: tensor<?xf32>, %mask: tensor<?xi1>,
    %score: i32, %k: index, %renorm: i1, %eps: f32, %scale: f32,
    %groups: index, %topk_groups: index, %group_topk: index,
    %use_top_p: i1, %top_p: f32) -> (tensor<?x?xf32>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %ninf = arith.constant 0xFF800000 : f32
  %T = tensor.dim %logits, %c0 : tensor<?x?xf32>
  %E = tensor.dim %logits, %c1 : tensor<?x?xf32>
  @ROUTE_SCRATCH@
  %result:2 = scf.for %t = %c0 to %T step %c1 iter_args(%W = %w_init, %I = %i_init)
      -> (tensor<?x?xf32>, tensor<?x?xi64>) {
    // Masked experts count as -inf logits.
    scf.for %e = %c0 to %E step %c1 {
      %l = tensor.extract %logits[%t, %e] : tensor<?x?xf32>
      %keep = tensor.extract %mask[%e] : tensor<?xi1>
      %v = arith.select %keep, %l, %ninf : f32
      memref.store %v, %scores[%e] : memref<?xf32>
    }
    @ROUTE_ROW_CALL@
  }
  return %result#0, %result#1 : tensor<?x?xf32>, tensor<?x?xi64>
}

// moe.fused_route: the router linear layer and routing of one token per
// iteration; the logits of a token live in scratch memory only. The router
// weight is [E, H], or [H, E] with %transposed.
func.func private @__moe_gate_route(
    %x: tensor<?x?xf32>, %router: tensor<?x?xf32>, %router_bias: tensor<?xf32>,
    %transposed: i1, %bias: tensor<?xf32>, %mask: tensor<?xi1>,
    %score: i32, %k: index, %renorm: i1, %eps: f32, %scale: f32,
    %groups: index, %topk_groups: index, %group_topk: index,
    %use_top_p: i1, %top_p: f32) -> (tensor<?x?xf32>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %ninf = arith.constant 0xFF800000 : f32
  %T = tensor.dim %x, %c0 : tensor<?x?xf32>
  %H = tensor.dim %x, %c1 : tensor<?x?xf32>
  %E = tensor.dim %router_bias, %c0 : tensor<?xf32>
  @ROUTE_SCRATCH@
  %result:2 = scf.for %t = %c0 to %T step %c1 iter_args(%W = %w_init, %I = %i_init)
      -> (tensor<?x?xf32>, tensor<?x?xi64>) {
    // Each loop's innermost accesses are contiguous, so that LLVM vectorizes
    // it: a scalar dot product per expert, one dependent fma after another
    // and a whole row of [H, E] apart, took 37 ms of a 264 ms layer at
    // T = 512, E = 64.
    scf.if %transposed {
      // [H, E]: all experts' logits at once, one row of the router per h,
      // each expert's sum still in h order.
      scf.for %e = %c0 to %E step %c1 {
        %b = tensor.extract %router_bias[%e] : tensor<?xf32>
        memref.store %b, %scores[%e] : memref<?xf32>
      }
      scf.for %h = %c0 to %H step %c1 {
        %xv = tensor.extract %x[%t, %h] : tensor<?x?xf32>
        scf.for %e = %c0 to %E step %c1 {
          %wv = tensor.extract %router[%h, %e] : tensor<?x?xf32>
          %acc = memref.load %scores[%e] : memref<?xf32>
          %acc2 = math.fma %xv, %wv, %acc : f32
          memref.store %acc2, %scores[%e] : memref<?xf32>
        }
      }
    } else {
      // [E, H]: one dot product per expert over a contiguous row; reassoc
      // lets LLVM split the sum over vector lanes.
      scf.for %e = %c0 to %E step %c1 {
        %b = tensor.extract %router_bias[%e] : tensor<?xf32>
        %dot = scf.for %h = %c0 to %H step %c1 iter_args(%acc = %b) -> (f32) {
          %xv = tensor.extract %x[%t, %h] : tensor<?x?xf32>
          %wv = tensor.extract %router[%e, %h] : tensor<?x?xf32>
          %p = arith.mulf %xv, %wv fastmath<reassoc, contract> : f32
          %acc2 = arith.addf %acc, %p fastmath<reassoc, contract> : f32
          scf.yield %acc2 : f32
        }
        memref.store %dot, %scores[%e] : memref<?xf32>
      }
    }
    // Masked experts count as -inf logits.
    scf.for %e = %c0 to %E step %c1 {
      %keep = tensor.extract %mask[%e] : tensor<?xi1>
      %l = memref.load %scores[%e] : memref<?xf32>
      %v = arith.select %keep, %l, %ninf : f32
      memref.store %v, %scores[%e] : memref<?xf32>
    }
    @ROUTE_ROW_CALL@
  }
  return %result#0, %result#1 : tensor<?x?xf32>, tensor<?x?xi64>
}

// sparsemixer's weight of one slot: with %m the slot's best logit, the
// softmax at that expert over the experts not %taken whose logits are
// within the jitter of it, (m - l) / max(|l|, m) <= 2 eps. The best expert is
// within it, so the softmax at it is 1 / sum exp(l - m) over those.
func.func private @__moe_sparsemixer_weight(%l: memref<?xf32>, %taken: memref<?xi1>,
                                            %m: f32, %eps2: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %E = memref.dim %l, %c0 : memref<?xf32>
  %sum = scf.for %e = %c0 to %E step %c1 iter_args(%acc = %zero) -> (f32) {
    %v = memref.load %l[%e] : memref<?xf32>
    %tk = memref.load %taken[%e] : memref<?xi1>
    %abs = math.absf %v : f32
    %factor = arith.maximumf %abs, %m : f32
    %gap = arith.subf %m, %v : f32
    %ratio = arith.divf %gap, %factor : f32
    // torch masks where ratio > 2 eps: a NaN ratio keeps the expert.
    %far = arith.cmpf ogt, %ratio, %eps2 : f32
    %out = arith.ori %far, %tk : i1
    %x = arith.subf %v, %m : f32
    %ex = math.exp %x : f32
    %add = arith.select %out, %zero, %ex : f32
    %acc2 = arith.addf %acc, %add : f32
    scf.yield %acc2 : f32
  }
  %w = arith.divf %one, %sum : f32
  return %w : f32
}

// moe.route <token_choice> <sparsemixer> (k = 2): per token, the best
// expert, then the best of the others, each weighted by
// @__moe_sparsemixer_weight and scaled by %scale; masked experts count as
// -inf logits.
func.func private @__moe_route_sparsemixer(
    %logits: tensor<?x?xf32>, %mask: tensor<?xi1>, %eps: f32, %scale: f32)
    -> (tensor<?x?xf32>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %two = arith.constant 2.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %false = arith.constant false
  %true = arith.constant true
  %T = tensor.dim %logits, %c0 : tensor<?x?xf32>
  %E = tensor.dim %logits, %c1 : tensor<?x?xf32>
  %eps2 = arith.mulf %eps, %two : f32
  %l = memref.alloca(%E) : memref<?xf32>
  %taken = memref.alloca(%E) : memref<?xi1>
  %w_init = tensor.empty(%T, %c2) : tensor<?x?xf32>
  %i_init = tensor.empty(%T, %c2) : tensor<?x?xi64>
  %result:2 = scf.for %t = %c0 to %T step %c1 iter_args(%W = %w_init, %I = %i_init)
      -> (tensor<?x?xf32>, tensor<?x?xi64>) {
    scf.for %e = %c0 to %E step %c1 {
      %v = tensor.extract %logits[%t, %e] : tensor<?x?xf32>
      %keep = tensor.extract %mask[%e] : tensor<?xi1>
      %v2 = arith.select %keep, %v, %ninf : f32
      memref.store %v2, %l[%e] : memref<?xf32>
      memref.store %false, %taken[%e] : memref<?xi1>
    }
    %slots:2 = scf.for %j = %c0 to %c2 step %c1 iter_args(%W1 = %W, %I1 = %I)
        -> (tensor<?x?xf32>, tensor<?x?xi64>) {
      %bi = func.call @__moe_argmax(%l, %taken, %c0, %E)
          : (memref<?xf32>, memref<?xi1>, index, index) -> i64
      %b = arith.index_cast %bi : i64 to index
      %m = memref.load %l[%b] : memref<?xf32>
      %w = func.call @__moe_sparsemixer_weight(%l, %taken, %m, %eps2)
          : (memref<?xf32>, memref<?xi1>, f32, f32) -> f32
      %ws = arith.mulf %w, %scale : f32
      memref.store %true, %taken[%b] : memref<?xi1>
      %W2 = tensor.insert %ws into %W1[%t, %j] : tensor<?x?xf32>
      %I2 = tensor.insert %bi into %I1[%t, %j] : tensor<?x?xi64>
      scf.yield %W2, %I2 : tensor<?x?xf32>, tensor<?x?xi64>
    }
    scf.yield %slots#0, %slots#1 : tensor<?x?xf32>, tensor<?x?xi64>
  }
  return %result#0, %result#1 : tensor<?x?xf32>, tensor<?x?xi64>
}

// Expert-choice routing (moe.route <expert_choice>): each expert takes its
// %C best tokens. Returns the dense gate [T, E] and token ids [E, C].
func.func private @__moe_route_expert_choice(%logits: tensor<?x?xf32>, %score: i32,
                                             %C: index) -> (tensor<?x?xf32>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %false = arith.constant false
  %true = arith.constant true
  %T = tensor.dim %logits, %c0 : tensor<?x?xf32>
  %E = tensor.dim %logits, %c1 : tensor<?x?xf32>
  %scores = memref.alloc(%T, %E) : memref<?x?xf32>
  %row = memref.alloca(%E) : memref<?xf32>
  scf.for %t = %c0 to %T step %c1 {
    scf.for %e = %c0 to %E step %c1 {
      %l = tensor.extract %logits[%t, %e] : tensor<?x?xf32>
      memref.store %l, %row[%e] : memref<?xf32>
    }
    func.call @__moe_scores(%row, %score) : (memref<?xf32>, i32) -> ()
    scf.for %e = %c0 to %E step %c1 {
      %s = memref.load %row[%e] : memref<?xf32>
      memref.store %s, %scores[%t, %e] : memref<?x?xf32>
    }
  }
  %column = memref.alloc(%T) : memref<?xf32>
  %taken = memref.alloc(%T) : memref<?xi1>
  %empty_gate = tensor.empty(%T, %E) : tensor<?x?xf32>
  %gate_init = linalg.fill ins(%zero : f32) outs(%empty_gate : tensor<?x?xf32>) -> tensor<?x?xf32>
  %ids_init = tensor.empty(%E, %C) : tensor<?x?xi64>
  %result:2 = scf.for %e = %c0 to %E step %c1 iter_args(%G = %gate_init, %I = %ids_init)
      -> (tensor<?x?xf32>, tensor<?x?xi64>) {
    scf.for %t = %c0 to %T step %c1 {
      %s = memref.load %scores[%t, %e] : memref<?x?xf32>
      memref.store %s, %column[%t] : memref<?xf32>
      memref.store %false, %taken[%t] : memref<?xi1>
    }
    %r:2 = scf.for %c = %c0 to %C step %c1 iter_args(%G1 = %G, %I1 = %I)
        -> (tensor<?x?xf32>, tensor<?x?xi64>) {
      %bi = func.call @__moe_argmax(%column, %taken, %c0, %T)
          : (memref<?xf32>, memref<?xi1>, index, index) -> i64
      %b = arith.index_cast %bi : i64 to index
      memref.store %true, %taken[%b] : memref<?xi1>
      %s = memref.load %column[%b] : memref<?xf32>
      %G2 = tensor.insert %s into %G1[%b, %e] : tensor<?x?xf32>
      %I2 = tensor.insert %bi into %I1[%e, %c] : tensor<?x?xi64>
      scf.yield %G2, %I2 : tensor<?x?xf32>, tensor<?x?xi64>
    }
    scf.yield %r#0, %r#1 : tensor<?x?xf32>, tensor<?x?xi64>
  }
  return %result#0, %result#1 : tensor<?x?xf32>, tensor<?x?xi64>
}
)mlir";

// ELT stands for the row element type.
static constexpr const char *kDispatchKernels = R"mlir(
// Token-choice dispatch (moe.dispatch) of rows of element type ELT. Rows of
// one expert are contiguous, experts ascending, tokens ascending within an
// expert. %capacity < 0: dropless; otherwise %by_weight picks which rows an
// expert over capacity keeps (largest weight, ties to the earlier slot) or
// keeps the earliest ones. %group > 0 counts the in-order capacity per group
// of that many consecutive tokens (Switch Transformers: per sequence).
// %scale multiplies each kept row by its slot's %scales (Llama 4).
func.func private @__moe_dispatch_ELT(%x: tensor<?x?xELT>, %ids: tensor<?x?xi64>,
    %E: index, %capacity: i64, %by_weight: i1, %weights: tensor<?x?xf32>,
    %group: index, %scale: i1, %scales: tensor<?x?xELT>)
    -> (tensor<?x?xELT>, tensor<?xi64>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c0_i64 = arith.constant 0 : i64
  %c1_i64 = arith.constant 1 : i64
  %none = arith.constant -1 : i64
  %zero = arith.constant 0.0 : ELT
  %true = arith.constant true
  %false = arith.constant false
  %T = tensor.dim %x, %c0 : tensor<?x?xELT>
  %H = tensor.dim %x, %c1 : tensor<?x?xELT>
  %K = tensor.dim %ids, %c1 : tensor<?x?xi64>
  %N = arith.muli %T, %K : index
  %E1 = arith.addi %E, %c1 : index
  %Ei = arith.index_cast %E : index to i64
  %has_capacity = arith.cmpi sge, %capacity, %c0_i64 : i64
  %seen = memref.alloc(%E) : memref<?xi64>
  %kept = memref.alloc(%E1) : memref<?xi64>
  %keep = memref.alloc(%T, %K) : memref<?x?xi1>
  linalg.fill ins(%c0_i64 : i64) outs(%seen : memref<?xi64>)
  linalg.fill ins(%c0_i64 : i64) outs(%kept : memref<?xi64>)
  // Pass 1: which slots an expert keeps, and how many rows each expert gets.
  scf.for %t = %c0 to %T step %c1 {
    // A new group starts counting every expert's rows from 0 again.
    %grouped = arith.cmpi ugt, %group, %c0 : index
    scf.if %grouped {
      %in_group = arith.remui %t, %group : index
      %first = arith.cmpi eq, %in_group, %c0 : index
      scf.if %first {
        linalg.fill ins(%c0_i64 : i64) outs(%seen : memref<?xi64>)
      }
    }
    scf.for %s = %c0 to %K step %c1 {
      %ei = tensor.extract %ids[%t, %s] : tensor<?x?xi64>
      %nonneg = arith.cmpi sge, %ei, %c0_i64 : i64
      %inrange = arith.cmpi slt, %ei, %Ei : i64
      %valid = arith.andi %nonneg, %inrange : i1
      %e_safe = arith.select %valid, %ei, %c0_i64 : i64
      %e = arith.index_cast %e_safe : i64 to index
      %n = memref.load %seen[%e] : memref<?xi64>
      // Rank of this slot among the expert's slots under the drop policy.
      %rank = scf.if %by_weight -> (i64) {
        %w = tensor.extract %weights[%t, %s] : tensor<?x?xf32>
        %r = scf.for %t2 = %c0 to %T step %c1 iter_args(%acc = %c0_i64) -> (i64) {
          %r2 = scf.for %s2 = %c0 to %K step %c1 iter_args(%acc2 = %acc) -> (i64) {
            %e2 = tensor.extract %ids[%t2, %s2] : tensor<?x?xi64>
            %same = arith.cmpi eq, %e2, %ei : i64
            %w2 = tensor.extract %weights[%t2, %s2] : tensor<?x?xf32>
            %heavier = arith.cmpf ogt, %w2, %w : f32
            %tie = arith.cmpf oeq, %w2, %w : f32
            %lin = arith.muli %t, %K : index
            %pos = arith.addi %lin, %s : index
            %lin2 = arith.muli %t2, %K : index
            %pos2 = arith.addi %lin2, %s2 : index
            %earlier = arith.cmpi ult, %pos2, %pos : index
            %tie_first = arith.andi %tie, %earlier : i1
            %before = arith.ori %heavier, %tie_first : i1
            %counts = arith.andi %same, %before : i1
            %inc = arith.extui %counts : i1 to i64
            %acc3 = arith.addi %acc2, %inc : i64
            scf.yield %acc3 : i64
          }
          scf.yield %r2 : i64
        }
        scf.yield %r : i64
      } else {
        scf.yield %n : i64
      }
      %under = arith.cmpi slt, %rank, %capacity : i64
      %no_cap = arith.xori %has_capacity, %true : i1
      %fits = arith.ori %no_cap, %under : i1
      %take = arith.andi %valid, %fits : i1
      memref.store %take, %keep[%t, %s] : memref<?x?xi1>
      scf.if %valid {
        %n2 = arith.addi %n, %c1_i64 : i64
        memref.store %n2, %seen[%e] : memref<?xi64>
      }
      scf.if %take {
        %e1 = arith.addi %e, %c1 : index
        %k0 = memref.load %kept[%e1] : memref<?xi64>
        %k1 = arith.addi %k0, %c1_i64 : i64
        memref.store %k1, %kept[%e1] : memref<?xi64>
      }
    }
  }
  // Offsets: prefix sum of the kept counts.
  %off_init = tensor.empty(%E1) : tensor<?xi64>
  %off0 = tensor.insert %c0_i64 into %off_init[%c0] : tensor<?xi64>
  %offsets:2 = scf.for %e = %c0 to %E step %c1 iter_args(%O = %off0, %run = %c0_i64)
      -> (tensor<?xi64>, i64) {
    %e1 = arith.addi %e, %c1 : index
    %cnt = memref.load %kept[%e1] : memref<?xi64>
    // kept[e] becomes the cursor of expert e for pass 2.
    memref.store %run, %kept[%e] : memref<?xi64>
    %run2 = arith.addi %run, %cnt : i64
    %O2 = tensor.insert %run2 into %O[%e1] : tensor<?xi64>
    scf.yield %O2, %run2 : tensor<?xi64>, i64
  }
  // Pass 2: copy rows; rows past offsets[E] stay zero.
  %rows_empty = tensor.empty(%N, %H) : tensor<?x?xELT>
  %rows_init = linalg.fill ins(%zero : ELT) outs(%rows_empty : tensor<?x?xELT>) -> tensor<?x?xELT>
  %map_init = tensor.empty(%T, %K) : tensor<?x?xi64>
  %out:2 = scf.for %t = %c0 to %T step %c1 iter_args(%R = %rows_init, %M = %map_init)
      -> (tensor<?x?xELT>, tensor<?x?xi64>) {
    %row = tensor.extract_slice %x[%t, 0] [1, %H] [1, 1] : tensor<?x?xELT> to tensor<1x?xELT>
    %inner:2 = scf.for %s = %c0 to %K step %c1 iter_args(%R1 = %R, %M1 = %M)
        -> (tensor<?x?xELT>, tensor<?x?xi64>) {
      %take = memref.load %keep[%t, %s] : memref<?x?xi1>
      %res:2 = scf.if %take -> (tensor<?x?xELT>, tensor<?x?xi64>) {
        %ei = tensor.extract %ids[%t, %s] : tensor<?x?xi64>
        %e = arith.index_cast %ei : i64 to index
        %p = memref.load %kept[%e] : memref<?xi64>
        %p1 = arith.addi %p, %c1_i64 : i64
        memref.store %p1, %kept[%e] : memref<?xi64>
        %pi = arith.index_cast %p : i64 to index
        %R2 = scf.if %scale -> (tensor<?x?xELT>) {
          %w = tensor.extract %scales[%t, %s] : tensor<?x?xELT>
          %R3 = scf.for %h = %c0 to %H step %c1 iter_args(%R4 = %R1) -> (tensor<?x?xELT>) {
            %v = tensor.extract %x[%t, %h] : tensor<?x?xELT>
            %sv = arith.mulf %v, %w : ELT
            %R5 = tensor.insert %sv into %R4[%pi, %h] : tensor<?x?xELT>
            scf.yield %R5 : tensor<?x?xELT>
          }
          scf.yield %R3 : tensor<?x?xELT>
        } else {
          %R3 = tensor.insert_slice %row into %R1[%pi, 0] [1, %H] [1, 1] : tensor<1x?xELT> into tensor<?x?xELT>
          scf.yield %R3 : tensor<?x?xELT>
        }
        %M2 = tensor.insert %p into %M1[%t, %s] : tensor<?x?xi64>
        scf.yield %R2, %M2 : tensor<?x?xELT>, tensor<?x?xi64>
      } else {
        %M2 = tensor.insert %none into %M1[%t, %s] : tensor<?x?xi64>
        scf.yield %R1, %M2 : tensor<?x?xELT>, tensor<?x?xi64>
      }
      scf.yield %res#0, %res#1 : tensor<?x?xELT>, tensor<?x?xi64>
    }
    scf.yield %inner#0, %inner#1 : tensor<?x?xELT>, tensor<?x?xi64>
  }
  return %out#0, %offsets#0, %out#1 : tensor<?x?xELT>, tensor<?xi64>, tensor<?x?xi64>
}

// Expert-choice dispatch: expert e's rows are e*C .. (e+1)*C, in the order
// the expert chose its tokens; row_map is [T, E].
func.func private @__moe_dispatch_expert_choice_ELT(%x: tensor<?x?xELT>, %tokens: tensor<?x?xi64>)
    -> (tensor<?x?xELT>, tensor<?xi64>, tensor<?x?xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %none = arith.constant -1 : i64
  %T = tensor.dim %x, %c0 : tensor<?x?xELT>
  %H = tensor.dim %x, %c1 : tensor<?x?xELT>
  %E = tensor.dim %tokens, %c0 : tensor<?x?xi64>
  %C = tensor.dim %tokens, %c1 : tensor<?x?xi64>
  %E1 = arith.addi %E, %c1 : index
  %N = arith.muli %E, %C : index
  %off_init = tensor.empty(%E1) : tensor<?xi64>
  %offsets = scf.for %e = %c0 to %E1 step %c1 iter_args(%O = %off_init) -> (tensor<?xi64>) {
    %start = arith.muli %e, %C : index
    %si = arith.index_cast %start : index to i64
    %O2 = tensor.insert %si into %O[%e] : tensor<?xi64>
    scf.yield %O2 : tensor<?xi64>
  }
  %rows_init = tensor.empty(%N, %H) : tensor<?x?xELT>
  %map_empty = tensor.empty(%T, %E) : tensor<?x?xi64>
  %map_init = linalg.fill ins(%none : i64) outs(%map_empty : tensor<?x?xi64>) -> tensor<?x?xi64>
  %out:2 = scf.for %e = %c0 to %E step %c1 iter_args(%R = %rows_init, %M = %map_init)
      -> (tensor<?x?xELT>, tensor<?x?xi64>) {
    %inner:2 = scf.for %c = %c0 to %C step %c1 iter_args(%R1 = %R, %M1 = %M)
        -> (tensor<?x?xELT>, tensor<?x?xi64>) {
      %ti = tensor.extract %tokens[%e, %c] : tensor<?x?xi64>
      %t = arith.index_cast %ti : i64 to index
      %base = arith.muli %e, %C : index
      %pos = arith.addi %base, %c : index
      %pi = arith.index_cast %pos : index to i64
      %row = tensor.extract_slice %x[%t, 0] [1, %H] [1, 1] : tensor<?x?xELT> to tensor<1x?xELT>
      %R2 = tensor.insert_slice %row into %R1[%pos, 0] [1, %H] [1, 1] : tensor<1x?xELT> into tensor<?x?xELT>
      %M2 = tensor.insert %pi into %M1[%t, %e] : tensor<?x?xi64>
      scf.yield %R2, %M2 : tensor<?x?xELT>, tensor<?x?xi64>
    }
    scf.yield %inner#0, %inner#1 : tensor<?x?xELT>, tensor<?x?xi64>
  }
  return %out#0, %offsets, %out#1 : tensor<?x?xELT>, tensor<?xi64>, tensor<?x?xi64>
}
)mlir";

/// `source` with every `placeholder` replaced by `text`.
static std::string substitute(std::string source, StringRef placeholder,
                              StringRef text) {
  for (size_t pos = source.find(placeholder.str()); pos != std::string::npos;
       pos = source.find(placeholder.str(), pos + text.size()))
    source.replace(pos, placeholder.size(), text.str());
  return source;
}

StringRef moe::detail::getRoutingKernels() {
  static const std::string source =
      substitute(substitute(kRoutingKernels, "@ROUTE_SCRATCH@", kRouteScratch),
                 "@ROUTE_ROW_CALL@", kRouteRowCall);
  return source;
}

std::string moe::detail::getDispatchKernels(Type rowElementType) {
  std::string type;
  llvm::raw_string_ostream os(type);
  rowElementType.print(os);
  return substitute(kDispatchKernels, "ELT", type);
}
