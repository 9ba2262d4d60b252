"""Recompute the committed MoE test models with the moe dialect's numpy
reference (moe_opt.reference: gate -> route -> dispatch -> experts ->
combine), from the weights saved in NAME.params.npz and the manifest's
attributes. numpy only: this is what CI runs, torch is not needed.

`reference_output(entry, params, x)` returns y[batch, seq, hidden] in
float64, or raises NotImplementedError for a model without a recipe.
"""

from __future__ import annotations

import numpy as np

from moe_opt import reference as ref

ROUTE_KEYS = ("mode", "score", "k", "renormalize", "epsilon", "scaling_factor",
              "selection_bias", "num_groups", "topk_groups", "group_topk", "capacity_factor",
              "expert_mask", "skip_ratio")


def _route_kwargs(entry, params, bias_name=None):
    r = dict(entry["route"])
    kw = {k: r[k] for k in ROUTE_KEYS if k in r and k != "selection_bias"}
    if r.get("selection_bias"):
        kw["selection_bias"] = params[bias_name].astype(np.float64)
    return kw


def _silu(z):
    return z / (1.0 + np.exp(-z))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _swiglu_mlp(x, gate_w, up_w, down_w):
    """nn.Linear weights [out, in]."""
    return (_silu(x @ gate_w.T) * (x @ up_w.T)) @ down_w.T


def _moe(x, logits, entry, params, weights, biases=None, bias_name=None, **expert_attrs):
    """route -> dispatch -> experts -> combine over tokens x[T, H]."""
    kw = _route_kwargs(entry, params, bias_name)
    num_experts = entry["E"]
    if kw.get("mode") == "expert_choice":
        w, ids = ref.route(logits, **kw)
        rows, offsets, row_map = ref.dispatch(x, ids, num_experts, expert_choice=True)
    else:
        w, ids = ref.route(logits, **kw)
        cap = entry.get("dispatch", {}).get("capacity")
        rows, offsets, row_map = ref.dispatch(x, ids, num_experts, capacity=cap)
    y = ref.experts(rows, offsets, weights, biases, **expert_attrs)
    return ref.combine(y, row_map, w)


def _per_expert(params, fmt, names, num_experts):
    """Expert-major list of per-expert nn.Linear weights."""
    return [params[fmt.format(e=e, n=n)] for e in range(num_experts) for n in names]


def _experts_attrs(entry):
    e = entry["experts"]
    attrs = dict(activation=e["activation"])
    if e.get("gate_layout"):
        attrs["gate_layout"] = e["gate_layout"]
    for k in ("alpha", "beta", "limit"):
        if k in e:
            attrs[k] = e[k]
    return attrs


def _hf_stacked(entry, p, x, logits, prefix="block.", bias_name=None):
    """transformers >= 5 stacked experts: gate_up_proj [E, 2I, H] (or
    [E, H, 2I] when transposed), down_proj [E, H, I] (or [E, I, H])."""
    gu = p[prefix + "experts.gate_up_proj"]
    down = p[prefix + "experts.down_proj"]
    attrs = _experts_attrs(entry)
    biases = None
    if entry["experts"].get("biases"):
        biases = [p[prefix + "experts.gate_up_proj_bias"], p[prefix + "experts.down_proj_bias"]]
    transposed = "transposed" not in entry["experts"].get("layout", "")
    return _moe(x, logits, entry, p, [gu, down], biases, bias_name=bias_name,
                transposed_weights=transposed, **attrs)


def reference_output(entry, params, hidden_states):
    name = entry["name"]
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    b, s, h = hidden_states.shape
    x = hidden_states.reshape(-1, h).astype(np.float64)
    E = entry.get("E")
    attrs = _experts_attrs(entry) if "experts" in entry else {}

    if name in ("mixtral_loop", "hmoe_loop", "qwen2_moe_loop", "olmoe_loop"):
        logits = ref.gate(x, p["gate.weight"])
        names = ("w1", "w3", "w2") if name in ("mixtral_loop", "hmoe_loop") else ("gate_proj", "up_proj", "down_proj")
        w = _per_expert(p, "experts.{e}.{n}.weight", names, E)
        y = _moe(x, logits, entry, p, w, transposed_weights=True, **attrs)
        if name == "qwen2_moe_loop":
            shared = _swiglu_mlp(x, p["shared_expert.gate_proj.weight"],
                                 p["shared_expert.up_proj.weight"], p["shared_expert.down_proj.weight"])
            y = y + _sigmoid(x @ p["shared_expert_gate.weight"].T) * shared
    elif name == "dense_masked":
        logits = ref.gate(x, p["router.weight"])
        w = _per_expert(p, "experts.{e}.{n}.weight", ("fc1", "fc2"), E)
        bias = _per_expert(p, "experts.{e}.{n}.bias", ("fc1", "fc2"), E)
        y = _moe(x, logits, entry, p, w, bias, transposed_weights=True, **attrs)
    elif name.startswith("switch_top1"):
        logits = ref.gate(x, p["classifier.weight"])
        w = _per_expert(p, "experts.{e}.{n}.weight", ("wi", "wo"), E)
        y = _moe(x, logits, entry, p, w, transposed_weights=True, **attrs)
    elif name == "deepseek_v3_stacked":
        logits = ref.gate(x, p["weight"])
        y = _moe(x, logits, entry, p, [p["gate_proj"], p["up_proj"], p["down_proj"]],
                 bias_name="e_score_correction_bias", **attrs)
        y = y + _swiglu_mlp(x, p["shared_experts.gate_proj.weight"],
                            p["shared_experts.up_proj.weight"], p["shared_experts.down_proj.weight"])
    elif name == "expert_choice":
        logits = ref.gate(x, p["router.weight"])
        y = _moe(x, logits, entry, p, [p["w_in"], p["w_out"]], **attrs)
    elif name == "gpt_oss_gathered":
        logits = ref.gate(x, p["gate.weight"], p["gate.bias"])
        y = _moe(x, logits, entry, p, [p["mlp1_weight"], p["mlp2_weight"]],
                 [p["mlp1_bias"], p["mlp2_bias"]], transposed_weights=True, **attrs)
    elif name.split(".")[0] in ("hf_mixtral", "hf_qwen3_moe", "hf_olmoe", "hf_qwen2_moe"):
        logits = ref.gate(x, p["block.gate.weight"])
        y = _hf_stacked(entry, p, x, logits)
        if name.startswith("hf_qwen2_moe"):
            shared = _swiglu_mlp(x, p["block.shared_expert.gate_proj.weight"],
                                 p["block.shared_expert.up_proj.weight"],
                                 p["block.shared_expert.down_proj.weight"])
            y = y + _sigmoid(x @ p["block.shared_expert_gate.weight"].T) * shared
    elif name.split(".")[0] in ("hf_deepseek_v3", "hf_glm4_moe"):
        logits = ref.gate(x, p["block.gate.weight"])
        y = _hf_stacked(entry, p, x, logits, bias_name="block.gate.e_score_correction_bias")
        y = y + _swiglu_mlp(x, p["block.shared_experts.gate_proj.weight"],
                            p["block.shared_experts.up_proj.weight"],
                            p["block.shared_experts.down_proj.weight"])
    elif name.split(".")[0] == "hf_gpt_oss":
        logits = ref.gate(x, p["block.router.weight"], p["block.router.bias"])
        y = _hf_stacked(entry, p, x, logits)
    else:
        raise NotImplementedError(name)
    return y.reshape(b, s, h)


SUPPORTED = ("mixtral_loop", "hmoe_loop", "qwen2_moe_loop", "olmoe_loop", "dense_masked", "switch_top1",
             "switch_top1_capacity", "deepseek_v3_stacked", "expert_choice", "gpt_oss_gathered",
             "hf_mixtral", "hf_qwen2_moe", "hf_qwen3_moe", "hf_olmoe", "hf_deepseek_v3",
             "hf_glm4_moe", "hf_gpt_oss")


def supported(entry):
    return entry["name"].split(".")[0] in SUPPORTED
