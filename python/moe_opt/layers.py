"""MoE layers written directly in the moe dialect, with random weights, and
their numpy reference outputs (moe_opt.reference).

A `Layer` describes one layer in the dialect's own terms; `mlir()` prints a
function `@layer(x, weights...) -> out` and `reference(x)` computes what the
function must return. Tests run the function through moe-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from moe_opt import reference as ref

_MLIR_TYPES = {np.float32: "f32", np.float16: "f16", np.float64: "f64"}


def _tensor(shape, dtype):
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{dtype}>"


def _f64(v):
    # MLIR float literals need a decimal point.
    return f"{float(v):.17e} : f64"


@dataclass
class Layer:
    hidden: int = 16
    experts: int = 4
    inter: int | list[int] = 32
    # moe.route
    mode: str = "token_choice"
    score: str = "softmax"
    k: int | None = 2
    renormalize: bool = False
    epsilon: float | None = None
    renormalize_clamp: bool = False
    jitter_eps: float | None = None
    scaling_factor: float | None = None
    selection_bias: bool = False
    num_groups: int | None = None
    topk_groups: int | None = None
    top_p: float | None = None
    capacity_factor: float | None = None
    expert_mask: list[bool] | None = None
    skip_ratio: float | None = None
    router_bias: bool = False
    # moe.dispatch
    capacity: int | None = None
    drop_policy: str | None = None
    # in-order capacity counted per group of this many consecutive tokens
    group_size: int | None = None
    # moe.experts
    activation: str = "silu"
    gate_layout: str | None = None
    transposed: bool = False
    expert_biases: bool = False
    alpha: float | None = None
    beta: float | None = None
    limit: float | None = None
    kappa: float | None = None
    lam: float | None = None
    dtype: type = np.float32
    index_type: str = "i64"
    # Emit moe.fused_route instead of moe.gate + moe.route.
    fused: bool = False
    seed: int = 0
    params: dict = field(default_factory=dict, init=False)

    # -- weights ---------------------------------------------------------------

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        E, H = self.experts, self.hidden

        def rand(*shape, scale=None):
            s = 1.0 / np.sqrt(shape[-2] if len(shape) > 1 else 4) if scale is None else scale
            return (rng.standard_normal(shape) * s).astype(self.dtype)

        p = self.params
        p["router"] = rand(E, H, scale=1.0 / np.sqrt(H))
        if self.router_bias:
            p["router_bias"] = rand(E, scale=0.5)
        if self.selection_bias:
            p["selection_bias"] = rand(E, scale=0.2)
        self.weight_names = []
        self.bias_names = []
        for e, (shapes) in enumerate(self._stage_shapes()):
            for s, (din, dout) in enumerate(shapes):
                name = f"w{e}_{s}" if self.heterogeneous else f"w_{s}"
                if not self.heterogeneous and e > 0:
                    continue
                shape = (din, dout)
                if not self.heterogeneous:
                    shape = (E,) + shape
                w = rand(*shape, scale=1.0 / np.sqrt(din))
                if self.transposed:
                    w = np.ascontiguousarray(np.swapaxes(w, -1, -2))
                p[name] = w
                self.weight_names.append(name)
                if self.expert_biases:
                    bname = "b" + name[1:]
                    p[bname] = rand(*(shape[:-2] + (dout,)), scale=0.3)
                    self.bias_names.append(bname)

    @property
    def heterogeneous(self):
        return isinstance(self.inter, list)

    @property
    def stages(self):
        return 3 if self.gate_layout == "separate" else 2

    def _stage_shapes(self):
        widths = self.inter if self.heterogeneous else [self.inter] * self.experts
        fused = self.gate_layout in ("interleaved", "concatenated")
        for width in widths:
            first = (self.hidden, 2 * width if fused else width)
            if self.stages == 3:
                yield [first, first, (width, self.hidden)]
            else:
                yield [first, (width, self.hidden)]

    # -- shapes ----------------------------------------------------------------

    def slots(self, tokens):
        if self.mode == "expert_choice":
            return self.experts
        return self.k

    def capacity_for(self, tokens):
        return ref.expert_capacity(tokens, self.experts, self.capacity_factor)

    # -- MLIR ------------------------------------------------------------------

    def argument_names(self):
        return ["x"] + list(self.params)

    def mlir(self, tokens=None):
        """The layer as `func.func @layer`; tokens=None makes T dynamic
        (expert choice then needs a static T)."""
        t = self.dtype and _MLIR_TYPES[self.dtype]
        T, E, H = tokens, self.experts, self.hidden
        it = self.index_type
        args = [f"%x: {_tensor((T, H), t)}"]
        for name, value in self.params.items():
            args.append(f"%{name}: {_tensor(value.shape, t)}")
        lines = [f"func.func @layer({', '.join(args)}) -> {_tensor((T, H), t)} {{"]
        if not self.fused:
            gate_operands = "%x, %router" + (", %router_bias" if self.router_bias else "")
            gate_types = [_tensor((T, H), t), _tensor((E, H), t)] + (
                [_tensor((E,), t)] if self.router_bias else [])
            lines.append(f"  %logits = moe.gate {gate_operands} : ({', '.join(gate_types)})"
                         f" -> {_tensor((T, E), t)}")
        attrs = []
        if self.mode == "expert_choice":
            C = None if T is None else self.capacity_for(T)
            attrs.append(f"capacity_factor = {_f64(self.capacity_factor)}")
            w_type, i_type = _tensor((T, E), t), _tensor((E, C), it)
        else:
            attrs.append(f"k = {self.k}")
            w_type, i_type = _tensor((T, self.k), t), _tensor((T, self.k), it)
        if self.renormalize:
            attrs.append("renormalize")
        if self.renormalize_clamp:
            attrs.append("renormalize_clamp")
        for name in ("epsilon", "jitter_eps", "scaling_factor", "top_p", "skip_ratio"):
            if getattr(self, name) is not None:
                attrs.append(f"{name} = {_f64(getattr(self, name))}")
        if self.num_groups is not None:
            attrs.append(f"num_groups = {self.num_groups}, topk_groups = {self.topk_groups}")
        if self.expert_mask is not None:
            mask = ", ".join("true" if m else "false" for m in self.expert_mask)
            attrs.append(f"expert_mask = array<i1: {mask}>")
        if self.fused:
            router_bias = f", %router_bias : {_tensor((E,), t)}" if self.router_bias else ""
            bias = (f" selection_bias(%selection_bias : {_tensor((E,), t)})"
                    if self.selection_bias else "")
            lines.append(f"  %w, %ids = moe.fused_route <{self.mode}> <{self.score}> %x, %router"
                         f"{router_bias}{bias} {{{', '.join(attrs)}}} : {_tensor((T, H), t)},"
                         f" {_tensor((E, H), t)} -> {w_type}, {i_type}")
        else:
            bias = (f" bias(%selection_bias : {_tensor((E,), t)})" if self.selection_bias else "")
            lines.append(f"  %w, %ids = moe.route <{self.mode}> <{self.score}> %logits{bias}"
                         f" {{{', '.join(attrs)}}} : {_tensor((T, E), t)} -> {w_type}, {i_type}")

        if self.mode == "expert_choice":
            n_rows = None if T is None else E * self.capacity_for(T)
            d_attrs = [f"num_experts = {E}", "expert_choice"]
            map_type = _tensor((T, E), it)
        else:
            n_rows = None if T is None else T * self.k
            d_attrs = [f"num_experts = {E}"]
            map_type = _tensor((T, self.k), it)
        weights_operand = ""
        if self.capacity is not None:
            d_attrs.append(f"capacity = {self.capacity}, drop_policy = #moe.drop_policy<{self.drop_policy}>")
            if self.drop_policy == "by_weight":
                weights_operand = f" weights(%w : {w_type})"
        if self.group_size is not None:
            lines.append(f"  %group = arith.constant {self.group_size} : index")
            weights_operand += " group_size(%group)"
        rows_type = _tensor((n_rows, H), t)
        off_type = _tensor((E + 1,), it)
        lines.append(f"  %rows, %offsets, %map = moe.dispatch %x, %ids{weights_operand}"
                     f" {{{', '.join(d_attrs)}}} : {_tensor((T, H), t)}, {i_type}"
                     f" -> {rows_type}, {off_type}, {map_type}")

        weights = ", ".join("%" + n for n in self.weight_names)
        biases = ", ".join("%" + n for n in self.bias_names)
        e_attrs = [f"activation = #moe.activation<{self.activation}>"]
        if self.gate_layout:
            e_attrs.append(f"gate_layout = #moe.gate_layout<{self.gate_layout}>")
        if self.transposed:
            e_attrs.append("transposed_weights")
        for name, attr in (("alpha", "alpha"), ("beta", "beta"), ("limit", "limit"),
                           ("kappa", "kappa"), ("lam", "lambda")):
            if getattr(self, name) is not None:
                e_attrs.append(f"{attr} = {_f64(getattr(self, name))}")
        operand_types = [rows_type, off_type]
        operand_types += [_tensor(self.params[n].shape, t) for n in self.weight_names]
        operand_types += [_tensor(self.params[n].shape, t) for n in self.bias_names]
        bias_clause = f" biases({biases})" if self.bias_names else ""
        lines.append(f"  %y = moe.experts %rows, %offsets weights({weights}){bias_clause}"
                     f" {{{', '.join(e_attrs)}}} : ({', '.join(operand_types)}) -> {rows_type}")
        lines.append(f"  %out = moe.combine %y, %map, %w : ({rows_type}, {map_type}, {w_type})"
                     f" -> {_tensor((T, H), t)}")
        lines.append(f"  return %out : {_tensor((T, H), t)}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def mlir_with_constants(self, tokens=None):
        """`mlir()` with the weights as onnx.constant ops in the function
        (`@layer(x) -> out`), the form calibrated passes read and edit."""
        t = _MLIR_TYPES[self.dtype]
        lines = self.mlir(tokens).split("\n")
        head = lines[0]
        lines[0] = head[: head.index(", %")] + ")" + head[head.index(") ->") + 1:]
        consts = [f"  %{n} = onnx.constant dense<\"0x{v.astype(self.dtype).tobytes().hex().upper()}\">"
                  f" : {_tensor(v.shape, t)}" for n, v in self.params.items()]
        return "\n".join(lines[:1] + consts + lines[1:])

    # -- reference -------------------------------------------------------------

    def reference(self, x):
        p = {k: v.astype(np.float64) for k, v in self.params.items()}
        x64 = x.astype(np.float64)
        logits = ref.gate(x64, p["router"], p.get("router_bias"))
        weights, ids = ref.route(
            logits, mode=self.mode, score=self.score, k=self.k,
            renormalize=self.renormalize, epsilon=self.epsilon or 0.0,
            renormalize_clamp=self.renormalize_clamp, jitter_eps=self.jitter_eps,
            scaling_factor=1.0 if self.scaling_factor is None else self.scaling_factor,
            selection_bias=p.get("selection_bias"), num_groups=self.num_groups,
            topk_groups=self.topk_groups, top_p=self.top_p,
            capacity_factor=self.capacity_factor, expert_mask=self.expert_mask,
            skip_ratio=self.skip_ratio)
        rows, offsets, row_map = ref.dispatch(
            x64, ids, self.experts, expert_choice=self.mode == "expert_choice",
            capacity=self.capacity, drop_policy=self.drop_policy, weights=weights,
            group_size=self.group_size)
        act = {k: getattr(self, k) for k in ("alpha", "beta", "limit", "kappa", "lam")
               if getattr(self, k) is not None}
        y = ref.experts(rows, offsets, [p[n] for n in self.weight_names],
                        [p[n] for n in self.bias_names] or None,
                        transposed_weights=self.transposed, activation=self.activation,
                        gate_layout=self.gate_layout, **act)
        return ref.combine(y, row_map, weights)
