"""The MoE blocks that transformers itself defines, with tiny random configs.

transformers >= 5 keeps routed experts as stacked 3-D parameters
(gate_up_proj [E, 2I, H], down_proj [E, H, I]) and picks the experts'
forward through config._experts_implementation: "eager" (a Python loop over
the experts hit, found with nonzero()) or "batched_mm" (weights gathered by
expert id, batched matmul). Both are exported, as HF_NAME.eager and
HF_NAME.batched_mm; transformers 4.x has no such switch (eager only).

Needs torch and transformers (generation only).
"""

from __future__ import annotations

import importlib
import traceback

import torch
import torch.nn as nn

from moe_opt.models import blocks

H = blocks.HIDDEN
I = blocks.INTER


class FirstOutput(nn.Module):
    """Blocks that return (hidden, router_logits) keep only the hidden."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, hidden_states):
        out = self.block(hidden_states)
        return out[0] if isinstance(out, (tuple, list)) else out


def _swiglu(inter, gate_layout="concatenated", **extra):
    d = dict(activation="silu", inter=inter, gate_layout=gate_layout, biases=False,
             layout="[E, out, in] stacked gate_up_proj / down_proj")
    d.update(extra)
    return d


# (hf name, module, config class, block class, config kwargs, moe description)
SPECS = [
    ("hf_mixtral", "mixtral", "MixtralConfig", "MixtralSparseMoeBlock",
     dict(hidden_size=H, intermediate_size=I, num_local_experts=4, num_experts_per_tok=2),
     dict(family="mixtral", E=4, k=2,
          route=dict(mode="token_choice", score="softmax", k=2, renormalize=True),
          experts=_swiglu(I))),
    ("hf_qwen2_moe", "qwen2_moe", "Qwen2MoeConfig", "Qwen2MoeSparseMoeBlock",
     dict(hidden_size=H, moe_intermediate_size=I, shared_expert_intermediate_size=48,
          num_experts=4, num_experts_per_tok=2, norm_topk_prob=False),
     dict(family="qwen2_moe", E=4, k=2,
          route=dict(mode="token_choice", score="softmax", k=2, renormalize=False),
          experts=_swiglu(I),
          shared_expert=dict(inter=48, activation="silu", gate="sigmoid(shared_expert_gate(x))"))),
    ("hf_qwen3_moe", "qwen3_moe", "Qwen3MoeConfig", "Qwen3MoeSparseMoeBlock",
     dict(hidden_size=H, moe_intermediate_size=I, num_experts=4, num_experts_per_tok=2,
          norm_topk_prob=True),
     dict(family="qwen3_moe", E=4, k=2,
          route=dict(mode="token_choice", score="softmax", k=2, renormalize=True),
          experts=_swiglu(I))),
    ("hf_olmoe", "olmoe", "OlmoeConfig", "OlmoeSparseMoeBlock",
     dict(hidden_size=H, intermediate_size=I, num_experts=4, num_experts_per_tok=2,
          norm_topk_prob=False),
     dict(family="olmoe", E=4, k=2,
          route=dict(mode="token_choice", score="softmax", k=2, renormalize=False),
          experts=_swiglu(I))),
    ("hf_deepseek_v3", "deepseek_v3", "DeepseekV3Config", "DeepseekV3MoE",
     dict(hidden_size=H, moe_intermediate_size=I, n_routed_experts=8, num_experts_per_tok=2,
          n_group=4, topk_group=2, n_shared_experts=1, routed_scaling_factor=2.5,
          norm_topk_prob=True),
     dict(family="deepseek_v3", E=8, k=2,
          route=dict(mode="token_choice", score="sigmoid", k=2, renormalize=True, epsilon=1e-20,
                     scaling_factor=2.5, selection_bias=True, num_groups=4, topk_groups=2,
                     group_topk=2),
          experts=_swiglu(I), shared_expert=dict(inter=I, activation="silu", gate=None))),
    ("hf_gpt_oss", "gpt_oss", "GptOssConfig", "GptOssMLP",
     dict(hidden_size=H, intermediate_size=I, num_local_experts=4, num_experts_per_tok=2),
     dict(family="gpt_oss", E=4, k=2,
          route=dict(mode="token_choice", score="softmax_after_topk", k=2, router_bias=True),
          experts=_swiglu(I, "interleaved", biases=True, alpha=1.702, beta=1.0, limit=7.0,
                          layout="[E, in, out] (transposed) gate_up_proj / down_proj"))),
    ("hf_switch", "switch_transformers", "SwitchTransformersConfig", "SwitchTransformersSparseMLP",
     dict(d_model=H, d_ff=I, num_experts=4, expert_capacity=4),
     dict(family="switch", E=4, k=1,
          route=dict(mode="token_choice", score="softmax", k=1, renormalize=False),
          dispatch=dict(capacity=4, per="sequence", dropped="zero"),
          experts=dict(activation="relu", inter=I, biases=False))),
    ("hf_phimoe", "phimoe", "PhimoeConfig", "PhimoeSparseMoeBlock",
     dict(hidden_size=H, intermediate_size=I, num_local_experts=4, num_experts_per_tok=2),
     dict(family="phimoe", E=4, k=2, route=dict(mode="token_choice", score="sparsemixer", k=2),
          experts=_swiglu(I))),
    ("hf_granitemoe", "granitemoe", "GraniteMoeConfig", "GraniteMoeMoE",
     dict(hidden_size=H, intermediate_size=I, num_local_experts=4, num_experts_per_tok=2),
     dict(family="granitemoe", E=4, k=2,
          route=dict(mode="token_choice", score="softmax_after_topk", k=2),
          experts=_swiglu(I))),
    ("hf_llama4", "llama4", "Llama4TextConfig", "Llama4TextMoe",
     dict(hidden_size=H, intermediate_size=I, num_local_experts=4, num_experts_per_tok=1),
     dict(family="llama4", E=4, k=1,
          route=dict(mode="token_choice", score="sigmoid", k=1, scale_input=True),
          experts=_swiglu(I), shared_expert=dict(inter=I, activation="silu", gate=None))),
    ("hf_ernie4_5_moe", "ernie4_5_moe", "Ernie4_5_MoeConfig", "Ernie4_5_MoeSparseMoeBlock",
     dict(hidden_size=H, moe_intermediate_size=I, moe_num_experts=4, moe_k=2,
          moe_num_shared_experts=1),
     dict(family="ernie4_5_moe", E=4, k=2, route=dict(mode="token_choice", score="softmax", k=2),
          experts=_swiglu(I))),
    ("hf_glm4_moe", "glm4_moe", "Glm4MoeConfig", "Glm4MoeMoE",
     dict(hidden_size=H, moe_intermediate_size=I, n_routed_experts=8, num_experts_per_tok=2,
          n_group=2, topk_group=1, n_shared_experts=1, routed_scaling_factor=2.5),
     dict(family="glm4_moe", E=8, k=2,
          route=dict(mode="token_choice", score="sigmoid", k=2, renormalize=True, epsilon=1e-20,
                     scaling_factor=2.5, selection_bias=True, num_groups=2, topk_groups=1,
                     group_topk=2),
          experts=_swiglu(I))),
]

IMPLEMENTATIONS = ("eager", "batched_mm")


def _build(module_name, config_cls, block_cls, kwargs, impl, seed):
    mod = importlib.import_module(f"transformers.models.{module_name}.modeling_{module_name}")
    cfg_mod = importlib.import_module(
        f"transformers.models.{module_name}.configuration_{module_name}")
    config = getattr(cfg_mod, config_cls)(**kwargs)
    if impl is not None:
        config._experts_implementation = impl
    torch.manual_seed(seed)
    block = getattr(mod, block_cls)(config)
    blocks._init(block, seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, buf in block.named_buffers():
            if "bias" in name:  # e_score_correction_bias
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.05)
    return FirstOutput(block).eval()


def build(hf_name, impl="batched_mm", seed=0, **config):
    """The SPECS block HF_NAME (e.g. "hf_mixtral") with experts_implementation
    IMPL; `config` (config kwargs such as hidden_size, intermediate_size,
    num_local_experts) overrides the tiny test sizes (benchmarks)."""
    for name, module_name, config_cls, block_cls, kwargs, _ in SPECS:
        if name == hf_name:
            return _build(module_name, config_cls, block_cls, dict(kwargs, **config), impl,
                          seed)
    raise KeyError(hf_name)


def generate(out_dir, process, only=None, log=print):
    import transformers

    major = int(transformers.__version__.split(".")[0])
    impls = IMPLEMENTATIONS if major >= 5 else (None,)
    entries, exported, failed = [], [], []
    for hf_name, module_name, config_cls, block_cls, kwargs, desc in SPECS:
        for impl in impls:
            name = hf_name if impl is None else f"{hf_name}.{impl}"
            if only and name not in only and hf_name not in only:
                continue
            log(f"{name}:")
            d = dict(desc, style=f"transformers {block_cls}"
                     + (f" (experts_implementation={impl})" if impl else ""),
                     transformers_block=f"{module_name}.{block_cls}", config=kwargs,
                     experts_implementation=impl, must_raise=True)
            if impl == "eager" or hf_name == "hf_switch":
                d["notes"] = ("Python loop over the experts found by nonzero(): torchscript "
                              "unrolls it for the export sample, dynamo cannot export it")
            try:
                module = _build(module_name, config_cls, block_cls, kwargs, impl, seed=0)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                msg = f"{type(e).__name__}: {e}"[:300]
                failed.append(f"{name}: build: {msg}")
                entries.append(dict(name=name, source="transformers", error=f"build: {msg}", **d))
                continue
            entry = process(name, module, "hidden", H, d, out_dir, ["y"], "transformers")
            entries.append(entry)
            for tag, rec in entry["exports"].items():
                if rec.get("ok"):
                    exported.append(f"{name}.{tag}" + ("" if rec.get("dynamic_ok") else " (export-sample shapes only)"))
                else:
                    why = rec.get("error") or "; ".join(rec.get("failures", []))
                    failed.append(f"{name}.{tag}: {rec.get('stage')}: {why[:300]}")
    report = dict(available=True, version=transformers.__version__,
                  experts_implementations=list(i for i in impls if i), exported=exported,
                  failed=failed)
    return entries, report
