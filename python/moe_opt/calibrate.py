"""Calibration: how a model routes real data, per raised MoE layer.

    python -m moe_opt.calibrate MODEL.onnx --data calib.npz -o stats.json

1. `moe-opt --onnx-infer-shapes --onnx-raise-moe --moe-report=...` says which
   layers are MoE layers and the ONNX names of their router logits, input and
   output (the report is the only contract with the compiler).
2. onnxruntime runs the model with those tensors added as graph outputs.
3. The routing of each layer is recomputed from its logits with
   `moe_opt.reference.route` and the layer's routing attributes, so the
   statistics count exactly what the compiled `moe.route` would select.

The output format (version 1) is documented in docs/Calibration.md; the
compiler passes that read it (--moe-prune-experts, --moe-balance-bias,
--moe-skip-experts) check its `format` and `version` and that its layers match
the model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from moe_opt import reference as ref

FORMAT = "moe-opt.calibration"
VERSION = 1

# Routing attributes of the report that moe_opt.reference.route takes.
_ROUTE_KEYS = ("mode", "score", "k", "renormalize", "epsilon", "scaling_factor",
               "num_groups", "topk_groups", "group_topk", "top_p", "capacity_factor")


def default_moe_opt():
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.environ.get("MOE_BUILD_DIR", os.path.join(here, "..", "..", "build"))
    return os.environ.get("MOE_OPT", os.path.join(build, "bin", "moe-opt"))


def layer_report(model_path, moe_opt=None):
    """The --moe-report of `model_path` as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        args = [moe_opt or default_moe_opt(), model_path, "--onnx-infer-shapes",
                "--onnx-raise-moe", f"--moe-report={report}", "-o", os.devnull]
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"moe-opt failed ({result.returncode}):\n{result.stderr}")
        with open(report) as f:
            return json.load(f)


def batches_from_npz(data, input_names):
    """Runs of the model from an .npz: keys named after the graph inputs make
    one run; keys `PREFIX.NAME` make one run per PREFIX that has every input
    (so a test model's `case0.input.hidden_states` works as is)."""
    runs = {}
    for key in data.files:
        for name in input_names:
            if key == name:
                runs.setdefault("", {})[name] = data[key]
            elif key.endswith("." + name):
                runs.setdefault(key[: -len(name) - 1], {})[name] = data[key]
    ordered = [runs[p] for p in sorted(runs) if len(runs[p]) == len(input_names)]
    if not ordered:
        raise ValueError(f"no run in the data has every graph input {list(input_names)}")
    return ordered


def _initializer(model, name):
    from onnx import numpy_helper

    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    raise KeyError(f"initializer '{name}' not found in the model")


def exposed_session(model, names):
    """An onnxruntime session over `model` with `names` as extra outputs."""
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto.FromString(model.SerializeToString())
    have = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    for name in names:
        if name not in have:
            # onnxruntime infers the type and shape of an output it computes.
            model.graph.output.append(onnx.ValueInfoProto(name=name))
            have.add(name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def route_kwargs(layer, model):
    routing = layer.get("routing", {})
    kw = {k: routing[k] for k in _ROUTE_KEYS if k in routing}
    if routing.get("selection_bias"):
        name = layer.get("selection_bias")
        if not name:
            raise ValueError(f"layer {layer['index']}: its selection bias has no ONNX "
                             "initializer name in the report; cannot recompute routing")
        kw["selection_bias"] = _initializer(model, name).astype(np.float64).reshape(-1)
    return kw


def selection_matrix(logits, kw):
    """sel[T, E]: how many of each token's slots chose each expert (0..k),
    and the routing weights and ids as moe.route returns them."""
    weights, ids = ref.route(logits, **kw)
    num_tokens, num_experts = logits.shape
    sel = np.zeros((num_tokens, num_experts), np.int64)
    if kw.get("mode") == "expert_choice":
        for e in range(num_experts):
            np.add.at(sel[:, e], ids[e], 1)
    else:
        rows = np.repeat(np.arange(num_tokens), ids.shape[1])
        flat = ids.reshape(-1)
        valid = flat >= 0
        np.add.at(sel, (rows[valid], flat[valid]), 1)
    return sel, weights, ids


def top2_ratios(weights, ids, kw):
    """w1 / w0 of every token whose second slot is used (token choice and
    top-p with k >= 2); empty otherwise."""
    if kw.get("mode") == "expert_choice" or weights.shape[1] < 2:
        return np.zeros(0)
    w0, w1 = np.abs(weights[:, 0]), np.abs(weights[:, 1])
    used = (ids[:, 1] >= 0) & (w0 > 0)
    return w1[used] / w0[used]


class LayerStats:
    """Accumulates one layer's statistics over batches."""

    def __init__(self, layer, kw, logits_sample, input_sample=0):
        self.layer = layer
        self.kw = kw
        e = layer["num_experts"]
        self.usage = np.zeros(e, np.int64)
        self.gram = np.zeros((e, e))
        self.ratios = []
        self.tokens = 0
        self.logits_sample = logits_sample
        self.sampled = []
        self.sampled_count = 0
        self.input_sample = input_sample
        self.inputs = []
        self.inputs_count = 0

    def add_input(self, x):
        """Keeps the first `input_sample` rows of the layer input."""
        if self.inputs_count < self.input_sample:
            rows = np.asarray(x, np.float32).reshape(-1, x.shape[-1])
            take = rows[: self.input_sample - self.inputs_count]
            self.inputs.append(take)
            self.inputs_count += take.shape[0]

    def add(self, logits):
        logits = np.asarray(logits, np.float64).reshape(-1, self.layer["num_experts"])
        sel, weights, ids = selection_matrix(logits, self.kw)
        self.usage += sel.sum(axis=0)
        finite = np.where(np.isfinite(logits), logits, 0.0)
        self.gram += finite.T @ finite
        self.ratios.append(top2_ratios(weights, ids, self.kw))
        self.tokens += logits.shape[0]
        if self.sampled_count < self.logits_sample:
            take = logits[: self.logits_sample - self.sampled_count]
            self.sampled.append(take)
            self.sampled_count += take.shape[0]
        return sel

    def similarity(self):
        norms = np.sqrt(np.diag(self.gram))
        denom = np.outer(norms, norms)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(denom > 0, self.gram / denom, 0.0)
        return cos

    def to_json(self):
        layer = self.layer
        ratios = np.concatenate(self.ratios) if self.ratios else np.zeros(0)
        entry = {
            "index": layer["index"],
            "num_experts": layer["num_experts"],
            "k": layer.get("k"),
            "routing": layer.get("routing", {}),
            "tensors": layer.get("tensors", {}),
            "router_weight": layer.get("router_weight", ""),
            "weights": layer.get("weights", []),
            "tokens": int(self.tokens),
            "usage": [int(c) for c in self.usage],
            "logit_similarity": [[round(float(v), 6) for v in row] for row in self.similarity()],
            "top2_ratio_median": float(np.median(ratios)) if ratios.size else None,
            "top2_ratio_count": int(ratios.size),
        }
        if self.sampled:
            sample = np.concatenate(self.sampled).astype(np.float32)
            entry["router_logits"] = [[float(v) for v in row] for row in sample]
        if self.inputs:
            rows = np.concatenate(self.inputs)
            entry["input_sample"] = [[float(v) for v in row] for row in rows]
        return entry


def calibrate(model_path, runs, moe_opt=None, logits_sample=0, activations=None,
              progress=None, input_sample=0):
    """Statistics (a JSON-ready dict) of `model_path` over `runs` (a list of
    {input name: array}); see docs/Calibration.md."""
    import onnx

    report = layer_report(model_path, moe_opt)
    layers = report["layers"]
    for layer in layers:
        if not layer.get("tensors", {}).get("router_logits"):
            raise ValueError(f"layer {layer['index']}: the report names no router logits "
                             "tensor to expose")
    model = onnx.load(model_path)
    stats = [LayerStats(l, route_kwargs(l, model), logits_sample, input_sample)
             for l in layers]
    names = [l["tensors"]["router_logits"] for l in layers]
    io_names = [n for l in layers for n in (l["tensors"]["input"], l["tensors"]["output"])]
    input_names = [l["tensors"]["input"] for l in layers] if input_sample else []
    session = exposed_session(model, names + input_names +
                              (io_names if activations else []))
    output_names = [o.name for o in session.get_outputs()]
    transitions = [None] * max(len(layers) - 1, 0)
    saved = {}
    start = time.time()
    for i, feed in enumerate(runs):
        outputs = dict(zip(output_names, session.run(None, feed)))
        outputs.update(feed)
        sels = [s.add(outputs[n]) for s, n in zip(stats, names)]
        for s, n in zip(stats, input_names):
            s.add_input(outputs[n])
        for l in range(len(layers) - 1):
            a, b = sels[l], sels[l + 1]
            if a.shape[0] != b.shape[0]:
                continue  # layers see different token sets: no per-token pairing
            counts = a.T @ b
            transitions[l] = counts if transitions[l] is None else transitions[l] + counts
        if activations:
            for l, layer in enumerate(layers):
                for role in ("input", "output"):
                    value = outputs[layer["tensors"][role]]
                    saved.setdefault(f"layer{l}.{role}", []).append(
                        value.reshape(-1, value.shape[-1]))
        if progress:
            progress(i + 1, len(runs), stats[0].tokens if stats else 0, time.time() - start)
    if activations:
        np.savez(activations, **{k: np.concatenate(v) for k, v in saved.items()})
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": os.path.basename(model_path),
        "runs": len(runs),
        "layers": [s.to_json() for s in stats],
        "transitions": [
            {"from_layer": l, "to_layer": l + 1,
             "counts": None if t is None else [[int(v) for v in row] for row in t]}
            for l, t in enumerate(transitions)
        ],
    }


def _print_progress(done, total, tokens, seconds):
    print(f"\rcalibrate: run {done}/{total}, {tokens} tokens, {seconds:.1f}s",
          end="\n" if done == total else "", file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m moe_opt.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="the .onnx model")
    parser.add_argument("--data", required=True,
                        help=".npz with arrays named after the graph inputs, or PREFIX.NAME "
                             "for several runs")
    parser.add_argument("-o", "--output", required=True, help="statistics .json to write")
    parser.add_argument("--moe-opt", default=None, help="moe-opt binary (default: build/bin)")
    parser.add_argument("--logits-sample", type=int, default=0, metavar="N",
                        help="also record the first N tokens' router logits per layer "
                             "(needed by --moe-balance-bias)")
    parser.add_argument("--input-sample", type=int, default=0, metavar="N",
                        help="also record the first N tokens' layer input rows per layer "
                             "(needed by --moe-prune-experts criterion=enumeration)")
    parser.add_argument("--activations", default=None, metavar="NPZ",
                        help="save every layer's input and output rows to this .npz")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    import onnx

    graph = onnx.load(args.model, load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    runs = batches_from_npz(np.load(args.data), inputs)
    stats = calibrate(args.model, runs, args.moe_opt, args.logits_sample, args.activations,
                      None if args.quiet else _print_progress, args.input_sample)
    with open(args.output, "w") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
