//===- MoEDialect.td - The moe dialect definition ----------*- tablegen -*-===//
//
// Mixture-of-Experts layers as a handful of value-semantic ops on builtin
// tensors: routing, dispatch, expert FFNs, grouped matmuls and combine.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_TD
#define MOE_DIALECT_TD

include "mlir/IR/OpBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::moe";
  let summary = "Mixture-of-Experts layers: routing, dispatch, experts, combine";
  let description = [{
    The `moe` dialect describes one Mixture-of-Experts layer as a short chain
    of value-semantic ops on builtin tensors:

    ```
    x[T,H] --moe.gate--> logits[T,E] --moe.route--> weights, ids
    x, ids --moe.dispatch--> rows[N,H] grouped by expert, offsets[E+1], row_map
    rows, offsets --moe.experts--> y[N,H]
    y, row_map, weights --moe.combine--> out[T,H]
    ```

    `moe.experts` lowers to `moe.grouped_matmul` + `moe.activation` +
    `moe.grouped_matmul`, the form that both the CPU and the GPU backends
    consume. Token counts may be dynamic; expert counts are always static.
    Integer index tensors (expert ids, offsets, row maps) may be `i32` or
    `i64`; `-1` marks an unused slot.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

#endif // MOE_DIALECT_TD
