"""Trains the small MoE classifier that the quality report (report.py) compresses.

    python -m moe_opt.quality.train [--out test/models/quality] [--seconds 300]
    python -m moe_opt.quality.train --upcycle-epochs 200 --epochs 200

Data: scikit-learn's handwritten digits (`load_digits`, 1797 8x8 images,
shipped inside the scikit-learn package, no download). The splits are written
once to OUT/digits.npz (uint8 pixels 0..16, labels), so the report and the
tests need neither scikit-learn nor torch.

Model (one token per image, x = pixels / 16):
    h = W_in x                                   (64 -> HIDDEN, no activation)
    h = h + MoE_1(h);  h = h + MoE_2(h)          (Mixtral blocks, E experts, top-2)
    logits = W_out h                             (HIDDEN -> 10)
The only nonlinearity is inside the experts, so what the experts learn is
what the model knows: dropping or merging experts shows in the accuracy.
The MoE layers are transformers' MixtralSparseMoeBlock with the `batched_mm`
experts implementation (stacked [E, 2I, H] / [E, H, I] weights), exported with
the TorchScript exporter at opset 17, the form `--onnx-raise-moe` raises.
Training adds the Switch load-balancing loss (E * sum_e f_e * P_e) so that
every expert is used and experts specialize.

`--upcycle-epochs N` makes the second model: a dense model (one SwiGLU FFN of
the experts' shape per layer) trained N epochs is copied into every expert
(sparse upcycling, as upcycled MoE checkpoints start), then trained as an MoE.
Its experts start equal, the case expert merging assumes; the from-scratch
model's experts are unrelated.

Needs torch, transformers (>= 5) and scikit-learn: generation only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
import warnings

import numpy as np

HIDDEN = 32
INTER = 16
EXPERTS = 8
TOP_K = 2
CLASSES = 10
SPLITS = {"train": 1000, "calib": 297, "test": 500}  # 1797 images


def make_splits(seed=0):
    """{split: (pixels uint8 [N, 64], labels uint8 [N])} from load_digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    x = digits.data.astype(np.uint8)[order]
    y = digits.target.astype(np.uint8)[order]
    out, start = {}, 0
    for name, size in SPLITS.items():
        out[name] = (x[start:start + size], y[start:start + size])
        start += size
    assert start == len(y)
    return out


def to_input(pixels):
    """The model's input: float32 [N, 64] in [0, 1]."""
    return (np.asarray(pixels, np.float32) / 16.0).astype(np.float32)


def build_model(seed=0):
    import torch
    import torch.nn as nn

    from moe_opt.models import hf_blocks

    class DigitsMoE(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(64, HIDDEN)
            self.moe = nn.ModuleList([
                hf_blocks.build("hf_mixtral", "batched_mm", seed=seed + i, hidden_size=HIDDEN,
                                intermediate_size=INTER, num_local_experts=EXPERTS,
                                num_experts_per_tok=TOP_K).block
                for i in range(2)])
            self.out = nn.Linear(HIDDEN, CLASSES)

        def forward(self, x):
            h = self.inp(x).unsqueeze(1)  # [N, 1, HIDDEN]: one token per image
            for block in self.moe:
                h = h + block(h)
            return self.out(h.squeeze(1))

    torch.manual_seed(seed)
    return DigitsMoE()


def balance_loss(logits_list):
    """Switch-transformer load balancing: E * sum_e f_e P_e per layer (f_e:
    fraction of top-k slots on e, P_e: mean router probability)."""
    import torch

    total = 0.0
    for logits in logits_list:
        probs = torch.softmax(logits, dim=-1)
        top = torch.topk(probs, TOP_K, dim=-1).indices
        f = torch.zeros(EXPERTS).scatter_add_(0, top.reshape(-1),
                                              torch.ones(top.numel())) / top.numel()
        total = total + EXPERTS * (f * probs.mean(0)).sum()
    return total / len(logits_list)


def dense_model(seed=0):
    """The MoE model with each MoE layer replaced by one SwiGLU FFN of the
    experts' shape (the dense model that upcycling copies into every expert)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class FFN(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_up = nn.Parameter(torch.randn(2 * INTER, HIDDEN) / HIDDEN ** 0.5)
            self.down = nn.Parameter(torch.randn(HIDDEN, INTER) / INTER ** 0.5)

        def forward(self, h):
            gate, up = F.linear(h, self.gate_up).chunk(2, dim=-1)  # Mixtral's layout
            return F.linear(F.silu(gate) * up, self.down)

    class Dense(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(64, HIDDEN)
            self.moe = nn.ModuleList([FFN() for _ in range(2)])
            self.out = nn.Linear(HIDDEN, CLASSES)

        def forward(self, x):
            h = self.inp(x)
            for block in self.moe:
                h = h + block(h)
            return self.out(h)

    torch.manual_seed(seed)
    return Dense()


def upcycle(dense, seed=0, noise=0.01):
    """Sparse upcycling: every expert of a new MoE model starts as the dense
    FFN (plus a little noise so that they can diverge), the projections are
    copied; the routers stay random. With renormalized top-2 weights the
    upcycled model computes what the dense one did, up to the noise."""
    import torch

    model = build_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        model.inp.load_state_dict(dense.inp.state_dict())
        model.out.load_state_dict(dense.out.state_dict())
        for block, ffn in zip(model.moe, dense.moe):
            for stacked, w in ((block.experts.gate_up_proj, ffn.gate_up),
                               (block.experts.down_proj, ffn.down)):
                stacked.copy_(w.expand_as(stacked)
                              + noise * w.std() * torch.randn(stacked.shape, generator=g))
    return model


def train(splits, seconds=300, epochs=400, seed=0, log=print, model=None):
    import torch
    import torch.nn.functional as F

    model = model if model is not None else build_model(seed)
    captured = []
    for block in model.moe:
        if hasattr(block, "gate"):  # MoE layers (not the dense model's FFNs)
            block.gate.register_forward_hook(lambda m, i, o: captured.append(o[0]))
    x = torch.from_numpy(to_input(splits["train"][0]))
    y = torch.from_numpy(splits["train"][1].astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(seed)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 50):
            idx = perm[i:i + 50]
            captured.clear()
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            if captured:
                loss = loss + 0.02 * balance_loss(captured)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if epoch % 50 == 0 or epoch == epochs - 1:
            log(f"epoch {epoch}: loss {loss.item():.4f}, "
                f"test acc {accuracy(model, splits['test']):.4f}, {time.time() - start:.0f}s")
        if time.time() - start > seconds:
            log(f"stopping at epoch {epoch}: time limit")
            break
    model.eval()
    return model


def accuracy(model, split):
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(to_input(split[0]))).numpy()
    model.train()
    return float(np.mean(logits.argmax(-1) == split[1]))


def export(model, path):
    import onnx
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(4, 64),), buf, dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.save(proto, path)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "..", "..", "test", "models", "quality")
    parser = argparse.ArgumentParser(prog="python -m moe_opt.quality.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=default_out)
    parser.add_argument("--seconds", type=float, default=300, help="training time limit")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--upcycle-epochs", type=int, default=0, metavar="N",
                        help="train the dense model N epochs, copy its FFNs into every expert "
                             "(sparse upcycling), then train the MoE model; writes "
                             "digits_moe_upcycled.* instead of digits_moe.*")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import sklearn
    import torch

    os.makedirs(args.out, exist_ok=True)
    splits = make_splits(args.seed)
    np.savez_compressed(os.path.join(args.out, "digits.npz"),
                        **{f"{s}.{k}": v for s, (px, lab) in splits.items()
                           for k, v in (("pixels", px), ("labels", lab))})
    torch.set_num_threads(1)
    name, start, extra = "digits_moe", None, {}
    if args.upcycle_epochs:
        dense = train(splits, args.seconds, args.upcycle_epochs, args.seed,
                      model=dense_model(args.seed))
        name, start = "digits_moe_upcycled", upcycle(dense, args.seed)
        extra = {"upcycled_from_dense_epochs": args.upcycle_epochs,
                 "dense_test_accuracy_torch": accuracy(dense, splits["test"])}
    model = train(splits, args.seconds, args.epochs, args.seed, model=start)
    onnx_path = os.path.join(args.out, name + ".onnx")
    export(model, onnx_path)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    record = {"torch": torch.__version__, "scikit-learn": sklearn.__version__,
              "hidden": HIDDEN, "inter": INTER, "experts": EXPERTS, "top_k": TOP_K,
              "layers": 2, "seed": args.seed, "epochs": args.epochs,
              "splits": {s: len(v[1]) for s, v in splits.items()}, **extra}
    for split in ("train", "calib", "test"):
        px, lab = splits[split]
        logits = session.run(None, {"x": to_input(px)})[0]
        record[f"{split}_accuracy_onnxruntime"] = float(np.mean(logits.argmax(-1) == lab))
        record[f"{split}_accuracy_torch"] = accuracy(model, splits[split])
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
