"""Export the committed ONNX test models of real MoE blocks.

    python -m moe_opt.models.generate --out test/models

For every block (moe_opt.models.blocks, and the MoE blocks that transformers
defines when it is installed) it exports:
  NAME.ts17.onnx      torch.onnx.export(dynamo=False), opset 17, dynamic_axes
  NAME.dynamo18.onnx  torch.onnx.export(dynamo=True), opset 18, dynamic_shapes
and beside each NAME.EXPORTER.npz with, for a few token shapes, the inputs,
torch's outputs and onnxruntime's outputs on the exported file (they must
agree to 1e-5), plus NAME.params.npz (the module's state_dict) and
MANIFEST.json. An export that fails, or whose onnxruntime outputs disagree
with torch, is recorded in the manifest and its files are not written.

Needs torch (and optionally transformers): requirements-generate.txt.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import platform
import re
import sys
import tempfile
import traceback
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from moe_opt.models import blocks, numpy_check

# (batch, seq) shapes checked for every model; the first is the export sample.
CASES = [(2, 5), (1, 1), (3, 7)]
RTOL = ATOL = 1e-5
MAX_BYTES = 1 << 20

# What the exported graphs look like, for the author of --onnx-raise-moe.
EXPORTER_NOTES = [
    "torchscript (ts17): nn.Linear -> MatMul with a constant-folded, pre-transposed [in, out] "
    "initializer renamed onnx::MatMul_N (parameter names are lost; dynamo keeps them and emits "
    "Gemm transB=1 on the [out, in] weight).",
    "torchscript: index_add_(0, idx, v) -> Add(acc, ScatterElements(ConstantOfShape(0), "
    "Expand(idx), v)) with NO reduction attribute (assumes unique indices); dynamo: "
    "ScatterND(acc, idx[:, None], v, reduction='add').",
    "torchscript: F.one_hot -> OneHot; dynamo: Equal(Unsqueeze(idx), arange) + Cast. "
    "torch.where(mask) -> NonZero + Transpose (+ Gather/Slice+Squeeze per coordinate).",
    "torchscript: x[None, top_x] -> Unsqueeze + Gather(axis=1); dynamo: GatherND "
    "(with Transposes around it). index_select -> Gather.",
    "torchscript: bool-mask assignment out[mask] = f(x[mask]) -> NonZero/GatherND/ScatterND with a "
    "Reshape to a shape baked from the export sample: the Switch ts17 files only reproduce the "
    "sample (dynamic_ok false); dynamo exports them correctly.",
    "transformers>=5 'eager' experts loop `for expert_idx in expert_hit` (expert_hit from "
    "nonzero()): torchscript unrolls it over the experts hit by the export sample and gathers "
    "the stacked weights by the runtime expert id (Split of expert_hit); it fails on inputs "
    "that hit a different number of experts (dynamic_ok false). dynamo refuses it "
    "(data-dependent loop). 'batched_mm' exports with both.",
    "Stacked weights gathered by expert id: torchscript Gather(W, ids) (+ Einsum/MatMul); "
    "dynamo GatherND. softmax(dtype=float) adds a Cast before TopK in torchscript.",
    "dynamo files are about twice as large: node metadata (source stack traces) is kept.",
]


def make_inputs(kind, batch, seq, hidden, seed, vocab=50):
    g = torch.Generator().manual_seed(seed)
    if kind == "hidden":
        return {"hidden_states": torch.randn(batch, seq, hidden, generator=g)}
    if kind == "features":
        return {"features": torch.randn(batch, hidden, generator=g)}
    if kind == "ids":
        return {"input_ids": torch.randint(0, vocab, (batch, seq), generator=g)}
    raise ValueError(kind)


def dynamic_axes_for(kind):
    return {"features": {0: "batch"}}.get(kind, {0: "batch", 1: "seq"})


OUTPUT_NAMES = {
    "neg_classifier_topk": ["probs", "indices"],
    "neg_topk_sampling": ["probs", "token_ids"],
}


def _as_tuple(out):
    if isinstance(out, (tuple, list)):
        return tuple(out)
    return (out,)


def export_torchscript(module, inputs, output_names, kind):
    buf = io.BytesIO()
    axes = {n: dynamic_axes_for(kind) for n in inputs}
    for o in output_names:
        axes[o] = {0: "batch"} if kind != "hidden" or o != "y" else {0: "batch", 1: "seq"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(inputs.values()), buf, dynamo=False, opset_version=17,
                          input_names=list(inputs), output_names=output_names,
                          dynamic_axes=axes, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def export_dynamo(module, inputs, output_names, kind):
    dims = {}
    for n in inputs:
        axes = dynamic_axes_for(kind)
        dims[n] = {i: torch.export.Dim.DYNAMIC for i in axes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, tuple(inputs.values()), dynamo=True, opset_version=18,
                                    input_names=list(inputs), output_names=output_names,
                                    dynamic_shapes=dims, external_data=False, verbose=False)
    return program.model_proto


def export_file(tag, module, inputs, output_names, kind, path):
    """Exports like EXPORTERS[tag] but to the file PATH with every weight in
    PATH.data (external data), so that models past protobuf's 2 GB limit
    (the benchmarks' sizes) export too."""
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as raw_dir:
        # The exporters' own layouts (torchscript: one file per tensor past
        # 2 GB) go to raw_dir; PATH gets one layout whatever they chose.
        raw = os.path.join(raw_dir, "model.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if tag == "ts17":
                axes = {n: dynamic_axes_for(kind) for n in inputs}
                for o in output_names:
                    axes[o] = ({0: "batch"} if kind != "hidden" or o != "y"
                               else {0: "batch", 1: "seq"})
                torch.onnx.export(module, tuple(inputs.values()), raw, dynamo=False,
                                  opset_version=17, input_names=list(inputs),
                                  output_names=output_names, dynamic_axes=axes,
                                  do_constant_folding=True)
            elif tag == "dynamo18":
                dims = {n: {i: torch.export.Dim.DYNAMIC for i in dynamic_axes_for(kind)}
                        for n in inputs}
                program = torch.onnx.export(module, tuple(inputs.values()), dynamo=True,
                                            opset_version=18, input_names=list(inputs),
                                            output_names=output_names, dynamic_shapes=dims,
                                            verbose=False)
                program.save(raw, external_data=True)
            else:
                raise ValueError(tag)
        model = onnx.load(raw)
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data", size_threshold=1024)
    return path


EXPORTERS = {
    "ts17": dict(fn=export_torchscript, exporter="torchscript", opset=17),
    "dynamo18": dict(fn=export_dynamo, exporter="dynamo", opset=18),
}


def run_ort(model_bytes, feeds):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def compare(torch_outs, ort_outs):
    for t, o in zip(torch_outs, ort_outs):
        if t.shape != o.shape:
            return f"shape {o.shape} != torch {t.shape}"
        if np.issubdtype(t.dtype, np.integer):
            if not np.array_equal(t, o.astype(t.dtype)):
                return "integer outputs differ"
        elif not np.allclose(o, t, rtol=RTOL, atol=ATOL):
            return f"max abs diff {np.abs(o - t).max():.3g}"
    return None


def op_histogram(model):
    hist = collections.Counter()
    for node in model.graph.node:
        hist[(node.domain + "::" if node.domain else "") + node.op_type] += 1
    # Functions (dynamo may emit local functions) are counted too.
    for f in model.functions:
        for node in f.node:
            hist[f"{f.name}/{node.op_type}"] += 1
    return dict(sorted(hist.items()))


def process(name, module, kind, hidden, desc, out_dir, output_names, source, seed=0,
            cases=CASES, log=print):
    entry = dict(name=name, source=source, input=dict(kind=kind, hidden=hidden), outputs=output_names)
    entry.update(desc)
    if entry.get("must_raise"):
        # test/e2e/test_models_reference.py recomputes these with moe_opt.reference.
        entry["reference_checked"] = numpy_check.supported(entry)
    module.eval()
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    case_inputs = [make_inputs(kind, b, s, hidden, seed + 17 * i) for i, (b, s) in enumerate(cases)]
    with torch.no_grad():
        torch_outs = [[t.detach().numpy() for t in _as_tuple(module(*ci.values()))] for ci in case_inputs]
    entry["exports"] = {}
    any_ok = False
    for tag, ex in EXPORTERS.items():
        rec = dict(exporter=ex["exporter"], opset=ex["opset"])
        entry["exports"][tag] = rec
        try:
            with torch.no_grad():
                model = ex["fn"](module, case_inputs[0], output_names, kind)
        except Exception as e:  # noqa: BLE001 - recorded in the manifest
            rec.update(ok=False, stage="export", error=_short(e))
            log(f"  {name} {tag}: export FAILED: {rec['error']}")
            continue
        model_bytes = model.SerializeToString()
        rec["ops"] = op_histogram(model)
        rec["bytes"] = len(model_bytes)
        rec["opset_imports"] = {i.domain or "ai.onnx": i.version for i in model.opset_import}
        data = {}
        failures = []
        for i, (ci, touts) in enumerate(zip(case_inputs, torch_outs)):
            feeds = {n: v.numpy() for n, v in ci.items()}
            try:
                oouts = run_ort(model_bytes, feeds)
            except Exception as e:  # noqa: BLE001
                failures.append(f"case {cases[i]}: onnxruntime: {_short(e)}")
                continue
            bad = compare(touts, oouts)
            if bad:
                failures.append(f"case {cases[i]}: {bad}")
                continue
            for n, v in feeds.items():
                data[f"case{i}.input.{n}"] = v
            for n, t, o in zip(output_names, touts, oouts):
                data[f"case{i}.torch.{n}"] = t
                data[f"case{i}.ort.{n}"] = o
        rec["cases_ok"] = [list(c) for i, c in enumerate(cases)
                           if any(k.startswith(f"case{i}.") for k in data)]
        if failures:
            rec["failures"] = failures
        if not any(k.startswith("case0.") for k in data):
            # The export sample itself must reproduce torch.
            rec.update(ok=False, stage="verify")
            log(f"  {name} {tag}: verify FAILED: {failures}")
            continue
        if len(model_bytes) > MAX_BYTES:
            rec.update(ok=False, stage="size", error=f"{len(model_bytes)} bytes")
            continue
        fname = f"{name}.{tag}.onnx"
        with open(os.path.join(out_dir, fname), "wb") as f:
            f.write(model_bytes)
        np.savez_compressed(os.path.join(out_dir, f"{name}.{tag}.npz"), **data)
        rec.update(ok=True, file=fname, data=f"{name}.{tag}.npz", dynamic_ok=not failures)
        if failures:
            rec["note"] = ("the graph is specialized to the export sample: only the cases in "
                           "cases_ok reproduce torch")
        any_ok = True
        log(f"  {name} {tag}: ok ({len(model_bytes)} bytes, cases {rec['cases_ok']})"
            + (f" partial: {failures}" if failures else ""))
    if any_ok:
        np.savez_compressed(os.path.join(out_dir, f"{name}.params.npz"), **state)
        entry["params"] = f"{name}.params.npz"
    return entry


def _short(e, limit=400):
    """One line: the innermost cause's first lines (torch.export wraps the
    real reason, e.g. a data-dependent guard, in a generic TorchExportError)."""
    inner = e
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner).strip()
    msg = f"{type(inner).__name__}: " + " ".join(text.splitlines()[:3])
    if inner is not e:
        msg = f"{type(e).__name__} <- {msg}"
    msg = re.sub(r"\x1b\[[0-9;]*m", "", msg)
    return msg if len(msg) <= limit else msg[:limit] + "..."


def versions():
    v = dict(python=platform.python_version(), torch=torch.__version__,
             onnx=onnx.__version__, onnxruntime=ort.__version__, numpy=np.__version__)
    for mod in ("onnxscript", "transformers"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return v


def write_manifest(out_dir, entries, hf_report):
    manifest = dict(
        description="Real ONNX MoE test models exported from PyTorch for the --onnx-raise-moe pass; "
                    "generated by `python -m moe_opt.models.generate --out test/models`.",
        generated_with=versions(),
        tolerance=dict(rtol=RTOL, atol=ATOL),
        exporter_notes=EXPORTER_NOTES,
        cases=[list(c) for c in CASES],
        npz_keys="case{i}.input.NAME, case{i}.torch.OUT, case{i}.ort.OUT; params.npz = state_dict",
        transformers=hf_report,
        models=entries,
    )
    with open(os.path.join(out_dir, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False, default=str)
        f.write("\n")


def cli(argv=None):
    parser = argparse.ArgumentParser(description="Export moe-opt's real ONNX MoE test models.")
    parser.add_argument("--out", default="test/models")
    parser.add_argument("--only", nargs="*", help="names to (re)generate (manifest is merged)")
    parser.add_argument("--no-transformers", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    entries = []
    for name, (_, kind, desc) in blocks.BLOCKS.items():
        if args.only and name not in args.only:
            continue
        print(f"{name}:", flush=True)
        try:
            module = blocks.build(name)
            entries.append(process(name, module, kind, blocks.HIDDEN, desc, args.out,
                                   OUTPUT_NAMES.get(name, ["y"]), "moe_opt.models.blocks"))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            entries.append(dict(name=name, source="moe_opt.models.blocks", error=_short(e)))
    hf_report = None
    if not args.no_transformers:
        try:
            from moe_opt.models import hf_blocks
            hf_entries, hf_report = hf_blocks.generate(args.out, process, only=args.only)
            entries.extend(hf_entries)
        except ImportError as e:
            hf_report = dict(available=False, error=_short(e))
    path = os.path.join(args.out, "MANIFEST.json")
    if args.only and os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        fresh = {e["name"] for e in entries}
        entries = [e for e in old["models"] if e["name"] not in fresh] + entries
        if hf_report is None or args.no_transformers:
            hf_report = old.get("transformers")
        elif old.get("transformers") and args.only:
            merged = dict(old["transformers"])
            for key in ("exported", "failed"):
                merged[key] = sorted(set(old["transformers"].get(key, []))
                                     | set(hf_report.get(key, [])))
            hf_report = dict(hf_report, **{k: merged[k] for k in ("exported", "failed")})
    write_manifest(args.out, entries, hf_report)
    ok = sum(1 for e in entries for r in e.get("exports", {}).values() if r.get("ok"))
    print(f"wrote {path}: {len(entries)} models, {ok} exported files", file=sys.stderr)


if __name__ == "__main__":
    cli()
