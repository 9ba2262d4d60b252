"""Each routing row of ../shared/MOE_REFERENCE.md section 1, checked on the
numpy reference with numbers worked out by hand or by an independent
formula."""

import numpy as np
import pytest

from moe_opt import reference as ref


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_mixtral_top2_renormalized():
    logits = np.array([[1.0, 3.0, 2.0, 0.0]])
    w, ids = ref.route(logits, k=2, renormalize=True)
    assert ids.tolist() == [[1, 2]]
    p = softmax(logits)[0]
    np.testing.assert_allclose(w, [[p[1] / (p[1] + p[2]), p[2] / (p[1] + p[2])]])


def test_ties_pick_the_lower_expert():
    w, ids = ref.route(np.array([[0.5, 2.0, 2.0, 2.0]]), k=2)
    assert ids.tolist() == [[1, 2]]


def test_qwen_without_norm_topk_prob_keeps_raw_probabilities():
    logits = np.array([[0.1, 0.7, -0.3, 0.9]])
    w, ids = ref.route(logits, k=2)
    p = softmax(logits)[0]
    assert ids.tolist() == [[3, 1]]
    np.testing.assert_allclose(w, [[p[3], p[1]]])


def test_deepseek_v3_groups_bias_and_scaling():
    # 8 experts in 4 groups of 2; keep 2 groups, then top-2.
    logits = np.array([[2.0, -1.0, 0.5, 0.4, 3.0, -3.0, 0.0, 0.1]])
    bias = np.array([0.0, 0.0, 0.0, 0.0, -5.0, 0.0, 0.3, 0.3])
    s = 1 / (1 + np.exp(-logits[0]))
    b = s + bias
    # Group scores = sum of each group's two biased scores.
    groups = b.reshape(4, 2).sum(1)
    kept = np.argsort(-groups, kind="stable")[:2]
    # Expert 4's bias sinks group 2; the +0.3 biases lift group 3 over group 0.
    assert sorted(kept.tolist()) == [1, 3]
    w, ids = ref.route(logits, score="sigmoid", k=2, renormalize=True, epsilon=1e-20,
                       scaling_factor=2.5, selection_bias=bias, num_groups=4,
                       topk_groups=2)
    # Expert 0 has the best unbiased score but its group was not kept; the
    # biased scores then rank 7 over 6 although s[6] < s[7] unbiased too.
    assert ids.tolist() == [[7, 6]]
    # Weights come from the unbiased scores.
    np.testing.assert_allclose(w, [[2.5 * s[7] / (s[7] + s[6] + 1e-20),
                                    2.5 * s[6] / (s[7] + s[6] + 1e-20)]])


def test_deepseek_v2_group_score_is_the_max():
    logits = np.array([[1.0, 0.9, 0.0, 1.2]])
    # group_topk = 1: group 0 scores 1.0, group 1 scores 1.2.
    _, ids = ref.route(logits, k=1, num_groups=2, topk_groups=1, group_topk=1)
    assert ids.tolist() == [[3]]
    # group_topk = 2: group 0 scores 1.9 > 1.2.
    _, ids = ref.route(logits, score="sigmoid", k=1, num_groups=2, topk_groups=1)
    assert ids.tolist() == [[0]]


def test_switch_top1_and_capacity_in_order():
    logits = np.array([[2.0, 0.0], [3.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    w, ids = ref.route(logits, k=1)
    assert ids[:, 0].tolist() == [0, 0, 1, 0]
    x = np.arange(8.0).reshape(4, 2)
    rows, offsets, row_map = ref.dispatch(x, ids, 2, capacity=2, drop_policy="in_order")
    assert offsets.tolist() == [0, 2, 3]
    assert row_map[:, 0].tolist() == [0, 1, 2, -1]  # token 3 overflows expert 0
    out = ref.combine(rows, row_map, w)
    np.testing.assert_allclose(out[3], 0.0)


def test_capacity_by_weight_keeps_the_heaviest():
    ids = np.array([[0], [0], [0]])
    weights = np.array([[0.2], [0.9], [0.5]])
    rows, offsets, row_map = ref.dispatch(np.eye(3), ids, 1, capacity=2,
                                          drop_policy="by_weight", weights=weights)
    assert row_map[:, 0].tolist() == [-1, 0, 1]  # rows stay in token order
    np.testing.assert_allclose(rows[:2], np.eye(3)[[1, 2]])


def test_gpt_oss_softmax_over_the_chosen():
    logits = np.array([[0.3, 2.0, -1.0, 1.5]])
    w, ids = ref.route(logits, score="softmax_after_topk", k=2)
    assert ids.tolist() == [[1, 3]]
    np.testing.assert_allclose(w, softmax(np.array([[2.0, 1.5]])))


def test_llama4_sigmoid_top1():
    logits = np.array([[0.3, -2.0, 1.0]])
    w, ids = ref.route(logits, score="sigmoid", k=1)
    assert ids.tolist() == [[2]]
    np.testing.assert_allclose(w, [[1 / (1 + np.exp(-1.0))]])


def test_top_p_keeps_the_shortest_prefix_reaching_p():
    p = np.array([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]])
    w, ids = ref.route(np.log(p), mode="top_p", score="softmax", k=3, top_p=0.7)
    assert ids.tolist() == [[0, 1, -1], [0, 1, 2]]
    np.testing.assert_allclose(w, [[0.5, 0.3, 0.0], [0.25, 0.25, 0.25]])


def test_expert_choice_capacity_and_dense_gate():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((10, 4))
    w, token_ids = ref.route(logits, mode="expert_choice", capacity_factor=2.0)
    assert token_ids.shape == (4, 5)  # ceil(10 * 2 / 4)
    s = softmax(logits)
    for e in range(4):
        assert token_ids[e].tolist() == np.argsort(-s[:, e], kind="stable")[:5].tolist()
    assert np.count_nonzero(w) == 20
    np.testing.assert_allclose(w[token_ids[0], 0], s[token_ids[0], 0])
    x = rng.standard_normal((10, 3))
    rows, offsets, row_map = ref.dispatch(x, token_ids, 4, expert_choice=True)
    assert offsets.tolist() == [0, 5, 10, 15, 20]
    out = ref.combine(rows, row_map, w)
    expected = sum(w[:, [e]] * x for e in range(4))
    np.testing.assert_allclose(out, expected)


def test_expert_mask_removes_experts():
    logits = np.array([[5.0, 1.0, 0.0]])
    w, ids = ref.route(logits, k=1, expert_mask=[False, True, True])
    assert ids.tolist() == [[1]]
    np.testing.assert_allclose(w, [[np.exp(1) / (np.exp(1) + 1)]])


def test_expert_mask_wins_over_selection_bias():
    """A masked expert's score is 0, but a large bias must not select it:
    selection masks the biased choice too (as the CPU kernel does)."""
    logits = np.array([[1.0, 0.5, 0.2, 0.1]])
    bias = np.array([0.0, 0.0, 0.0, 5.0])
    _, ids = ref.route(logits, score="sigmoid", k=2, selection_bias=bias,
                       expert_mask=[True, True, True, False])
    np.testing.assert_array_equal(ids, [[0, 1]])


@pytest.mark.parametrize("tokens,experts,factor,capacity",
                         [(64, 8, 2.0, 16), (10, 8, 2.0, 3), (1, 64, 2.0, 1), (4, 2, 8.0, 4)])
def test_expert_capacity(tokens, experts, factor, capacity):
    # Same table as the C++ unit test of RouteOp::getExpertCapacity.
    assert ref.expert_capacity(tokens, experts, factor) == capacity


def test_apa_with_unit_parameters_is_sigmoid_and_aglu_is_silu():
    z = np.linspace(-6, 6, 25)
    np.testing.assert_allclose(ref.apply_activation(z, activation="apa"), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(ref.apply_activation(z, activation="aglu"), z / (1 + np.exp(-z)))
    kappa, lam = 0.7, 2.0
    direct = (lam * np.exp(-kappa * z) + 1) ** (-1 / lam)
    np.testing.assert_allclose(
        ref.apply_activation(z, activation="apa", kappa=kappa, lam=lam), direct)


def test_heterogeneous_experts_use_their_own_widths():
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal((4, 6)), rng.standard_normal((3, 4)),
          rng.standard_normal((4, 10)), rng.standard_normal((5, 4))]
    rows = rng.standard_normal((5, 4))
    offsets = np.array([0, 2, 5])
    y = ref.experts(rows, offsets, ws, activation="gelu", gate_layout="concatenated")
    g, u = rows[:2] @ ws[0][:, :3], rows[:2] @ ws[0][:, 3:]
    expected0 = (ref.apply_activation(g, activation="gelu") * u) @ ws[1]
    np.testing.assert_allclose(y[:2], expected0)
    g, u = rows[2:] @ ws[2][:, :5], rows[2:] @ ws[2][:, 5:]
    np.testing.assert_allclose(y[2:], (ref.apply_activation(g, activation="gelu") * u) @ ws[3])


def test_sparsemixer_matches_transformers():
    """reference.route <sparsemixer> is transformers' PhiMoE sparsemixer in
    inference mode, jitter included (ties and masked-out experts too)."""
    torch = pytest.importorskip("torch")
    phimoe = pytest.importorskip("transformers.models.phimoe.modeling_phimoe")
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((64, 6)).astype(np.float32)
    logits[:8, 2] = logits[:8, 4]  # ties pick the lower index
    for eps in (0.0, 0.01, 0.3):
        w, ids = phimoe.sparsemixer(torch.from_numpy(logits), jitter_eps=eps, training=False)
        rw, rids = ref.route(logits.astype(np.float64), score="sparsemixer", k=2, jitter_eps=eps)
        np.testing.assert_array_equal(rids, ids.numpy())
        np.testing.assert_allclose(rw, w.numpy(), rtol=1e-6)


def test_capacity_per_group_counts_each_group_in_order():
    ids = np.array([[0], [0], [0], [0], [0], [1]])
    rows, offsets, row_map = ref.dispatch(np.eye(6), ids, 2, capacity=2,
                                          drop_policy="in_order", group_size=3)
    # Groups [0, 1, 2] and [3, 4, 5]: each keeps its first two of expert 0.
    assert row_map[:, 0].tolist() == [0, 1, -1, 2, 3, 4]
    assert offsets.tolist() == [0, 4, 5]
    _, _, whole = ref.dispatch(np.eye(6), ids, 2, capacity=2, drop_policy="in_order")
    assert whole[:, 0].tolist() == [0, 1, -1, -1, -1, 2]


def test_switch_per_sequence_capacity_matches_transformers():
    """gate, top-1 softmax route, dispatch with group_size = seq, relu
    experts and combine are transformers' SwitchTransformersSparseMLP:
    capacity counted per sequence in token order, a dropped token outputs 0
    and a kept one its expert's output times the max router probability."""
    torch = pytest.importorskip("torch")
    st = pytest.importorskip(
        "transformers.models.switch_transformers.modeling_switch_transformers")
    H, E, C, B, S = 8, 3, 2, 3, 7
    config = st.SwitchTransformersConfig(d_model=H, d_ff=12, num_experts=E,
                                         expert_capacity=C)
    torch.manual_seed(0)
    block = st.SwitchTransformersSparseMLP(config).eval()
    x = np.random.default_rng(3).standard_normal((B, S, H)).astype(np.float32)
    with torch.no_grad():
        expected = block(torch.from_numpy(x)).numpy()
    p = {k: v.double().numpy() for k, v in block.state_dict().items()}
    flat = x.reshape(-1, H).astype(np.float64)
    w, ids = ref.route(ref.gate(flat, p["router.classifier.weight"]), k=1)
    ws = [p[f"experts.expert_{e}.{n}.weight"] for e in range(E) for n in ("wi", "wo")]

    def layer(group_size):
        rows, offsets, row_map = ref.dispatch(flat, ids, E, capacity=C, drop_policy="in_order",
                                              group_size=group_size)
        y = ref.experts(rows, offsets, ws, transposed_weights=True, activation="relu")
        return ref.combine(y, row_map, w).reshape(B, S, H), row_map

    got, row_map = layer(S)
    assert (row_map < 0).any() and (row_map >= 0).sum() > C * E  # drops, per sequence
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(layer(None)[0], expected, atol=1e-3)
