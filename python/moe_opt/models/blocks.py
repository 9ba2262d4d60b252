"""Tiny MoE blocks written the way each model family writes them in PyTorch,
plus negative controls (softmax/topk/gather that are NOT MoE layers).

Each block takes hidden states [batch, seq, hidden] (the shape the families
use) and flattens them to tokens itself, as the families do. Every entry of
BLOCKS carries, beside the module factory, the layer's description in the moe
dialect's terms (the manifest's `moe` field) so tests and the raising pass
know what each graph must raise to.

Needs torch (generation only; see requirements-generate.txt).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN = 16
INTER = 32


def _init(module: nn.Module, seed: int, scale: float = 1.0):
    """Deterministic N(0, 1/fan_in) weights, biases N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") and p.ndim == 1 and "correction" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif p.ndim >= 2:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=g) * scale / fan_in ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module


class SwiGLUExpert(nn.Module):
    """Mixtral's MixtralBlockSparseTop2MLP / Qwen's MLP: w2(silu(w1 x) * w3 x)."""

    def __init__(self, hidden, inter):
        super().__init__()
        self.w1 = nn.Linear(hidden, inter, bias=False)  # gate
        self.w3 = nn.Linear(hidden, inter, bias=False)  # up
        self.w2 = nn.Linear(inter, hidden, bias=False)  # down

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class QwenMLP(nn.Module):
    """Qwen2MoeMLP / OlmoeMLP naming: gate_proj, up_proj, down_proj."""

    def __init__(self, hidden, inter):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


# a. Mixtral -------------------------------------------------------------------


class MixtralSparseMoe(nn.Module):
    """transformers 4.3x MixtralSparseMoeBlock (per-expert loop)."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=8, top_k=2):
        super().__init__()
        self.hidden_dim, self.num_experts, self.top_k = hidden, experts, top_k
        self.gate = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList([SwiGLUExpert(hidden, inter) for _ in range(experts)])

    def forward(self, hidden_states):
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, hidden_dim)
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)
        final_hidden_states = torch.zeros(
            (batch_size * sequence_length, hidden_dim), dtype=hidden_states.dtype)
        expert_mask = F.one_hot(selected_experts, num_classes=self.num_experts).permute(2, 1, 0)
        for expert_idx in range(self.num_experts):
            expert_layer = self.experts[expert_idx]
            idx, top_x = torch.where(expert_mask[expert_idx])
            current_state = hidden_states[None, top_x].reshape(-1, hidden_dim)
            current_hidden_states = expert_layer(current_state) * routing_weights[top_x, idx, None]
            final_hidden_states.index_add_(0, top_x, current_hidden_states.to(hidden_states.dtype))
        return final_hidden_states.reshape(batch_size, sequence_length, hidden_dim)



class HeterogeneousMoe(MixtralSparseMoe):
    """HMoE (Wang et al. 2024): Mixtral's per-expert loop over experts of
    different FFN widths with a fixed total width."""

    def __init__(self, hidden=HIDDEN, widths=(16, 24, 24, 32, 32, 40, 40, 48), top_k=2):
        super().__init__(hidden, widths[0], len(widths), top_k)
        self.experts = nn.ModuleList([SwiGLUExpert(hidden, w) for w in widths])

# b. Qwen2-MoE -----------------------------------------------------------------


class Qwen2MoeSparseMoe(nn.Module):
    """transformers 4.4x Qwen2MoeSparseMoeBlock: no renormalization, shared
    expert gated by sigmoid(shared_expert_gate(x))."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=6, top_k=2,
                 shared_inter=48, norm_topk_prob=False):
        super().__init__()
        self.num_experts, self.top_k, self.norm_topk_prob = experts, top_k, norm_topk_prob
        self.gate = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList([QwenMLP(hidden, inter) for _ in range(experts)])
        self.shared_expert = QwenMLP(hidden, shared_inter)
        self.shared_expert_gate = nn.Linear(hidden, 1, bias=False)

    def forward(self, hidden_states):
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, hidden_dim)
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        if self.norm_topk_prob:
            routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)
        final_hidden_states = torch.zeros(
            (batch_size * sequence_length, hidden_dim), dtype=hidden_states.dtype)
        expert_mask = F.one_hot(selected_experts, num_classes=self.num_experts).permute(2, 1, 0)
        for expert_idx in range(self.num_experts):
            expert_layer = self.experts[expert_idx]
            idx, top_x = torch.where(expert_mask[expert_idx])
            current_state = hidden_states[None, top_x].reshape(-1, hidden_dim)
            current_hidden_states = expert_layer(current_state) * routing_weights[top_x, idx, None]
            final_hidden_states.index_add_(0, top_x, current_hidden_states.to(hidden_states.dtype))
        shared_expert_output = self.shared_expert(hidden_states)
        shared_expert_output = F.sigmoid(self.shared_expert_gate(hidden_states)) * shared_expert_output
        final_hidden_states = final_hidden_states + shared_expert_output
        return final_hidden_states.reshape(batch_size, sequence_length, hidden_dim)


# c. OLMoE ---------------------------------------------------------------------


class OlmoeSparseMoe(nn.Module):
    """OLMoE (norm_topk_prob = False), written with an equality mask,
    torch.where and index_select instead of one_hot and fancy indexing."""

    def __init__(self, hidden=HIDDEN, inter=24, experts=8, top_k=2, norm_topk_prob=False):
        super().__init__()
        self.num_experts, self.top_k, self.norm_topk_prob = experts, top_k, norm_topk_prob
        self.gate = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList([QwenMLP(hidden, inter) for _ in range(experts)])

    def forward(self, hidden_states):
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        x = hidden_states.reshape(-1, hidden_dim)
        router_logits = self.gate(x)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        if self.norm_topk_prob:
            routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(x)
        for expert_idx in range(self.num_experts):
            token_idx, slot = torch.where(selected_experts == expert_idx)
            rows = torch.index_select(x, 0, token_idx)
            y = self.experts[expert_idx](rows)
            w = routing_weights[token_idx, slot].unsqueeze(-1)
            out.index_add_(0, token_idx, y * w)
        return out.reshape(batch_size, sequence_length, hidden_dim)


# d. dense masked --------------------------------------------------------------


class GeluExpert(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.fc1 = nn.Linear(hidden, inter)
        self.fc2 = nn.Linear(inter, hidden)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class DenseMaskedMoe(nn.Module):
    """Every expert runs on every token; the top-k weights are scattered into
    a [T, E] gate matrix that combines the stacked expert outputs."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=4, top_k=2):
        super().__init__()
        self.num_experts, self.top_k = experts, top_k
        self.router = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList([GeluExpert(hidden, inter) for _ in range(experts)])

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.reshape(-1, h)
        probs = torch.softmax(self.router(x), dim=-1)
        w, idx = torch.topk(probs, self.top_k, dim=-1)
        w = w / w.sum(dim=-1, keepdim=True)
        gates = torch.zeros_like(probs).scatter(1, idx, w)  # [T, E]
        expert_out = torch.stack([e(x) for e in self.experts], dim=1)  # [T, E, H]
        out = (gates.unsqueeze(-1) * expert_out).sum(dim=1)
        return out.reshape(b, s, h)


# e. Switch --------------------------------------------------------------------


class ReluExpert(nn.Module):
    """SwitchTransformersDenseActDense: wo(relu(wi x)), no biases."""

    def __init__(self, hidden, inter):
        super().__init__()
        self.wi = nn.Linear(hidden, inter, bias=False)
        self.wo = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.wo(F.relu(self.wi(x)))


class SwitchMoe(nn.Module):
    """Switch top-1: argmax, p_max, boolean per-expert masks; with a fixed
    expert_capacity (config value, as in Switch), tokens past it in token
    order are dropped (output 0)."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=4, expert_capacity=None):
        super().__init__()
        self.num_experts, self.expert_capacity = experts, expert_capacity
        self.classifier = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList([ReluExpert(hidden, inter) for _ in range(experts)])

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.reshape(-1, h)
        router_probs = F.softmax(self.classifier(x), dim=-1)
        expert_index = torch.argmax(router_probs, dim=-1)
        expert_mask = F.one_hot(expert_index, num_classes=self.num_experts)
        if self.expert_capacity is not None:
            token_priority = torch.cumsum(expert_mask, dim=0)
            expert_mask = expert_mask * (token_priority <= self.expert_capacity)
        router_max = torch.max(router_probs, dim=-1).values.unsqueeze(-1)
        expert_mask = expert_mask.bool()
        out = torch.zeros_like(x)
        for idx, expert in enumerate(self.experts):
            token_mask = expert_mask[:, idx]
            out[token_mask] = expert(x[token_mask])
        return (router_max * out).reshape(b, s, h)


# f. DeepSeek-V3 ---------------------------------------------------------------


class DeepseekV3StackedMoe(nn.Module):
    """DeepSeek-V3 routing (sigmoid, e_score_correction_bias, group-limited
    top-k, unbiased weights / (sum + 1e-20) * routed_scaling_factor) over
    stacked 3-D expert weights [E, in, out] gathered by expert id and applied
    with torch.bmm; plus a shared SwiGLU expert."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=8, top_k=2, n_group=4,
                 topk_group=2, routed_scaling_factor=2.5, shared_inter=32):
        super().__init__()
        self.num_experts, self.top_k = experts, top_k
        self.n_group, self.topk_group = n_group, topk_group
        self.routed_scaling_factor = routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(experts, hidden))
        self.e_score_correction_bias = nn.Parameter(torch.zeros(experts))
        self.gate_proj = nn.Parameter(torch.empty(experts, hidden, inter))
        self.up_proj = nn.Parameter(torch.empty(experts, hidden, inter))
        self.down_proj = nn.Parameter(torch.empty(experts, inter, hidden))
        self.shared_experts = QwenMLP(hidden, shared_inter)

    def route(self, x):
        router_logits = F.linear(x.float(), self.weight.float())
        scores = router_logits.sigmoid()
        scores_for_choice = scores + self.e_score_correction_bias.unsqueeze(0)
        group_scores = (
            scores_for_choice.view(-1, self.n_group, self.num_experts // self.n_group)
            .topk(2, dim=-1)[0].sum(dim=-1))
        group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
        group_mask = torch.zeros_like(group_scores)
        group_mask.scatter_(1, group_idx, 1)
        score_mask = (
            group_mask.unsqueeze(-1)
            .expand(-1, self.n_group, self.num_experts // self.n_group)
            .reshape(-1, self.num_experts))
        tmp_scores = scores_for_choice.masked_fill(~score_mask.bool(), float("-inf"))
        topk_indices = torch.topk(tmp_scores, k=self.top_k, dim=-1, sorted=False)[1]
        topk_weights = scores.gather(1, topk_indices)
        denominator = topk_weights.sum(dim=-1, keepdim=True) + 1e-20
        topk_weights = topk_weights / denominator
        return topk_indices, topk_weights * self.routed_scaling_factor

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.view(-1, h)
        topk_indices, topk_weights = self.route(x)
        flat_ids = topk_indices.reshape(-1)                           # [T*k]
        rows = x.repeat_interleave(self.top_k, dim=0).unsqueeze(1)   # [T*k, 1, H]
        g = torch.bmm(rows, self.gate_proj[flat_ids])                # [T*k, 1, I]
        u = torch.bmm(rows, self.up_proj[flat_ids])
        y = torch.bmm(F.silu(g) * u, self.down_proj[flat_ids])       # [T*k, 1, H]
        y = y.view(-1, self.top_k, h) * topk_weights.unsqueeze(-1)
        out = y.sum(dim=1) + self.shared_experts(x)
        return out.view(b, s, h)


# g. expert choice -------------------------------------------------------------


class ExpertChoiceMoe(nn.Module):
    """Expert choice (Zhou et al. 2022): S = softmax(X Wg) [T, E]; each expert
    takes its top-C tokens, C = ceil(T * c / E); stacked experts applied with
    einsum; results scatter_add_-ed back to tokens."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=4, capacity_factor=2):
        super().__init__()
        self.num_experts, self.capacity_factor = experts, capacity_factor
        self.router = nn.Linear(hidden, experts, bias=False)
        self.w_in = nn.Parameter(torch.empty(experts, hidden, inter))
        self.w_out = nn.Parameter(torch.empty(experts, inter, hidden))

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.reshape(-1, h)
        tokens = x.shape[0]
        capacity = (tokens * self.capacity_factor + self.num_experts - 1) // self.num_experts
        scores = torch.softmax(self.router(x), dim=-1)            # [T, E]
        gates, token_idx = torch.topk(scores.t(), capacity, dim=1)  # [E, C]
        rows = x[token_idx]                                       # [E, C, H]
        hmid = F.gelu(torch.einsum("ech,ehi->eci", rows, self.w_in))
        y = torch.einsum("eci,eih->ech", hmid, self.w_out) * gates.unsqueeze(-1)
        out = torch.zeros_like(x).scatter_add_(
            0, token_idx.reshape(-1, 1).expand(-1, h), y.reshape(-1, h))
        return out.reshape(b, s, h)


# h. gpt-oss -------------------------------------------------------------------


def gpt_oss_swiglu(x, alpha: float = 1.702, limit: float = 7.0):
    x_glu, x_linear = x[..., ::2], x[..., 1::2]
    x_glu = x_glu.clamp(min=None, max=limit)
    x_linear = x_linear.clamp(min=-limit, max=limit)
    out_glu = x_glu * torch.sigmoid(alpha * x_glu)
    return out_glu * (x_linear + 1)


class GptOssMoe(nn.Module):
    """gpt-oss reference MLPBlock (norm omitted): router Linear with bias,
    top-k on logits, softmax over the chosen, stacked weights gathered by
    expert id ([E, 2I, H] interleaved gate/up, [E, H, I]) with einsum,
    clamped SwiGLU, expert biases."""

    def __init__(self, hidden=HIDDEN, inter=INTER, experts=8, top_k=4,
                 swiglu_limit=7.0):
        super().__init__()
        self.experts_per_token, self.swiglu_limit = top_k, swiglu_limit
        self.gate = nn.Linear(hidden, experts, bias=True)
        self.mlp1_weight = nn.Parameter(torch.empty(experts, 2 * inter, hidden))
        self.mlp1_bias = nn.Parameter(torch.empty(experts, 2 * inter))
        self.mlp2_weight = nn.Parameter(torch.empty(experts, hidden, inter))
        self.mlp2_bias = nn.Parameter(torch.empty(experts, hidden))

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        t = hidden_states.reshape(-1, h)
        g = self.gate(t)
        experts = torch.topk(g, k=self.experts_per_token, dim=-1, sorted=True)
        expert_weights = F.softmax(experts.values, dim=1)
        expert_indices = experts.indices
        mlp1_weight = self.mlp1_weight[expert_indices, ...]
        mlp1_bias = self.mlp1_bias[expert_indices, ...]
        t = torch.einsum("beck,bk->bec", mlp1_weight, t) + mlp1_bias
        t = gpt_oss_swiglu(t, limit=self.swiglu_limit)
        mlp2_weight = self.mlp2_weight[expert_indices, ...]
        mlp2_bias = self.mlp2_bias[expert_indices, ...]
        t = torch.einsum("beck,bek->bec", mlp2_weight, t)
        t += mlp2_bias
        t = torch.einsum("bec,be->bc", t, expert_weights)
        return t.reshape(b, s, h)


# i. negative controls ---------------------------------------------------------


class ClassifierTopK(nn.Module):
    """Image/text classifier head: softmax over classes, top-k predictions."""

    def __init__(self, hidden=HIDDEN, classes=10, k=3):
        super().__init__()
        self.k = k
        self.head = nn.Linear(hidden, classes)

    def forward(self, features):
        probs = torch.softmax(self.head(features), dim=-1)
        values, indices = torch.topk(probs, self.k, dim=-1)
        return values, indices


class TopKSampling(nn.Module):
    """Top-k sampling over a vocabulary: temperature, top-k logits, softmax
    over the kept ones, and the token ids they stand for (no experts)."""

    def __init__(self, hidden=HIDDEN, vocab=64, k=8, temperature=0.7):
        super().__init__()
        self.k, self.temperature = k, temperature
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, hidden_states):
        logits = self.lm_head(hidden_states[:, -1, :]) / self.temperature
        top_logits, top_ids = torch.topk(logits, self.k, dim=-1)
        probs = torch.softmax(top_logits, dim=-1)
        return probs, top_ids


class EmbeddingLookup(nn.Module):
    """Token embedding lookup (Gather by index) followed by a projection."""

    def __init__(self, hidden=HIDDEN, vocab=50):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, input_ids):
        return self.proj(self.embed(input_ids))


# Registry ---------------------------------------------------------------------

def _expert(activation, inter, gate_layout=None, biases=False, **extra):
    d = dict(activation=activation, inter=inter, biases=biases)
    if gate_layout:
        d["gate_layout"] = gate_layout
    d.update(extra)
    return d


# name -> (factory taking size overrides, input kind, manifest description)
BLOCKS = {
    "mixtral_loop": (
        partial(MixtralSparseMoe, experts=8, top_k=2), "hidden",
        dict(style="a: per-expert loop, Mixtral (one_hot/where, fancy-index rows, index_add_)",
             family="mixtral", E=8, k=2,
             route=dict(mode="token_choice", score="softmax", k=2, renormalize=True,
                        epsilon=0.0, scaling_factor=1.0),
             experts=_expert("silu", INTER, "separate"),
             weights="experts.{e}.w1/w3/w2 nn.Linear [out, in]", must_raise=True)),
    "hmoe_loop": (
        HeterogeneousMoe, "hidden",
        dict(style="a: per-expert loop, HMoE: Mixtral's loop over experts of different widths",
             family="hmoe", E=8, k=2,
             route=dict(mode="token_choice", score="softmax", k=2, renormalize=True,
                        epsilon=0.0, scaling_factor=1.0),
             experts=_expert("silu", [16, 24, 24, 32, 32, 40, 40, 48], "separate"),
             weights="experts.{e}.w1/w3/w2 nn.Linear [out, in], widths differ per expert",
             must_raise=True)),
    "qwen2_moe_loop": (
        partial(Qwen2MoeSparseMoe, experts=6, top_k=2), "hidden",
        dict(style="b: per-expert loop, Qwen2-MoE, no renormalize, sigmoid-gated shared expert",
             family="qwen2_moe", E=6, k=2,
             route=dict(mode="token_choice", score="softmax", k=2, renormalize=False),
             experts=_expert("silu", INTER, "separate"),
             shared_expert=dict(inter=48, activation="silu", gate_layout="separate",
                                gate="sigmoid(shared_expert_gate(x))"),
             must_raise=True)),
    "olmoe_loop": (
        partial(OlmoeSparseMoe, experts=8, top_k=2), "hidden",
        dict(style="c: per-expert loop, OLMoE norm_topk_prob=False (eq-mask, where, index_select)",
             family="olmoe", E=8, k=2,
             route=dict(mode="token_choice", score="softmax", k=2, renormalize=False),
             experts=_expert("silu", 24, "separate"), must_raise=True)),
    "dense_masked": (
        partial(DenseMaskedMoe, experts=4, top_k=2), "hidden",
        dict(style="d: dense masked, all experts on all tokens, zeros().scatter(1, idx, w) gate matrix",
             family="dense", E=4, k=2,
             route=dict(mode="token_choice", score="softmax", k=2, renormalize=True,
                        epsilon=0.0),
             experts=_expert("gelu", INTER, biases=True), must_raise=True)),
    "switch_top1": (
        partial(SwitchMoe, experts=4), "hidden",
        dict(style="e: Switch top-1 boolean dispatch (argmax, max prob, bool masks)",
             family="switch", E=4, k=1,
             route=dict(mode="token_choice", score="softmax", k=1, renormalize=False),
             experts=_expert("relu", INTER),
             notes="out[mask] = expert(x[mask]): the torchscript export bakes a sample shape",
             must_raise=True)),
    "switch_top1_capacity": (
        partial(SwitchMoe, experts=4, expert_capacity=3), "hidden",
        dict(style="e: Switch top-1 with fixed expert_capacity=3 (cumsum priority over all tokens, dropped -> 0)",
             family="switch", E=4, k=1,
             route=dict(mode="token_choice", score="softmax", k=1, renormalize=False),
             dispatch=dict(capacity=3, drop_policy="token_order", dropped="zero"),
             notes="out[mask] = expert(x[mask]): the torchscript export bakes a sample shape",
             experts=_expert("relu", INTER), must_raise=True)),
    "deepseek_v3_stacked": (
        DeepseekV3StackedMoe, "hidden",
        dict(style="f: stacked [E,in,out] weights gathered by expert id + torch.bmm, DeepSeek-V3 group-limited sigmoid routing",
             family="deepseek_v3", E=8, k=2,
             route=dict(mode="token_choice", score="sigmoid", k=2, renormalize=True,
                        epsilon=1e-20, scaling_factor=2.5, selection_bias=True,
                        num_groups=4, topk_groups=2, group_topk=2,
                        masked_fill="-inf"),
             experts=_expert("silu", INTER, "separate", layout="[E, in, out]"),
             shared_expert=dict(inter=32, activation="silu", gate_layout="separate", gate=None),
             must_raise=True)),
    "expert_choice": (
        partial(ExpertChoiceMoe, experts=4, capacity_factor=2), "hidden",
        dict(style="g: expert choice, topk along the token axis, einsum experts, scatter_add_",
             family="expert_choice", E=4, k=None,
             route=dict(mode="expert_choice", score="softmax", capacity_factor=2.0),
             experts=_expert("gelu", INTER, layout="[E, in, out]"), must_raise=True)),
    "gpt_oss_gathered": (
        partial(GptOssMoe, experts=8, top_k=4), "hidden",
        dict(style="h: gpt-oss reference MLPBlock, router bias, softmax after topk, gathered weights + einsum, clamped SwiGLU",
             family="gpt_oss", E=8, k=4,
             route=dict(mode="token_choice", score="softmax_after_topk", k=4, renormalize=False,
                        router_bias=True),
             experts=_expert("silu", INTER, "interleaved", biases=True, alpha=1.702,
                             beta=1.0, limit=7.0, layout="[E, out, in]"),
             must_raise=True)),
    "neg_classifier_topk": (
        ClassifierTopK, "features",
        dict(style="i: negative control, softmax + topk classifier head", family="negative",
             must_raise=False)),
    "neg_topk_sampling": (
        TopKSampling, "hidden",
        dict(style="i: negative control, top-k over a vocabulary for sampling", family="negative",
             must_raise=False)),
    "neg_embedding_gather": (
        EmbeddingLookup, "ids",
        dict(style="i: negative control, embedding lookup (Gather by index)", family="negative",
             must_raise=False)),
}


def build(name: str, seed: int = 0, **sizes) -> nn.Module:
    """BLOCKS[name] with deterministic weights; `sizes` (the constructor's
    hidden, inter, experts, ...) override the tiny test sizes (benchmarks)."""
    factory = BLOCKS[name][0]
    torch.manual_seed(seed)
    module = factory(**sizes)
    _init(module, seed)
    if isinstance(module, DeepseekV3StackedMoe):
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            module.e_score_correction_bias.copy_(torch.randn(module.num_experts, generator=g) * 0.05)
    if isinstance(module, (GptOssMoe,)):
        # Scale up so the clamp at limit 7 is reached by some values.
        with torch.no_grad():
            module.mlp1_weight.mul_(4.0)
    return module.eval()
