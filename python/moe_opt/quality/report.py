"""Quality of expert pruning / merging / compression on a trained MoE model.

    python -m moe_opt.quality.report [--quick] [--write-doc docs/Quality.md]

The model is test/models/quality/digits_moe.onnx (trained by
`python -m moe_opt.quality.train`: two Mixtral-style MoE layers, 8 experts,
top-2, on scikit-learn's digits; splits in test/models/quality/digits.npz).

1. `python -m moe_opt.calibrate` runs the calibration split (router usage,
   logit similarity, recorded router logits and layer activations).
2. For each method and fraction of experts kept, `moe-opt` raises the model
   and applies the method's passes; `moe-run` runs the test split through the
   compiled module.
3. Per variant: accuracy (argmax of the logits vs the labels), relative
   output error ||y - y0|| / ||y0|| against the unmodified model's moe-run
   logits y0, the bytes of the expert weights (the weight operands of every
   `moe.experts` in the compiled IR) and the expert matmul FLOPs per token
   (k * 2 * weight elements / experts per layer, summed over layers).

A method whose pass this moe-opt does not have is reported as
"n/a (pass not available)"; a pass that fails reports its first error line.
No number is ever filled in for a variant that did not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
MODEL_DIR = os.path.join(ROOT, "test", "models", "quality")
MODEL = os.path.join(MODEL_DIR, "digits_moe.onnx")
MODEL_UPCYCLED = os.path.join(MODEL_DIR, "digits_moe_upcycled.onnx")
DATA = os.path.join(MODEL_DIR, "digits.npz")
FRACTIONS = (0.75, 0.5, 0.25)
# --moe-compress-experts options of "MC-SMoE + compress" (the experts'
# intermediate width is 16, hidden 32).
COMPRESS = "rank=8 keep-fraction=0.125"
NOT_AVAILABLE = "n/a (pass not available)"


def build_dir():
    return os.environ.get("MOE_BUILD_DIR", os.path.join(ROOT, "build"))


def tool(name):
    env = {"moe-opt": "MOE_OPT", "moe-run": "MOE_RUN"}[name]
    return os.environ.get(env, os.path.join(build_dir(), "bin", name))


@dataclass
class Method:
    name: str
    # (stats path, activations path, keep fraction) -> moe-opt pass flags
    passes: object
    note: str = ""


def _prune(criterion=None):
    def passes(stats, acts, f):
        opts = f"stats={stats} keep-fraction={f}"
        if criterion:
            opts += f" criterion={criterion}"
        return [f"--moe-prune-experts={opts}"]
    return passes


def _merge(align, weighting):
    def passes(stats, acts, f):
        return [f"--moe-merge-experts=stats={stats} keep-fraction={f} "
                f"align={'true' if align else 'false'} weighting={weighting}"]
    return passes


def _merge_compress(stats, acts, f):
    return _merge(True, "frequency")(stats, acts, f) + [
        f"--moe-compress-experts={COMPRESS}"]


METHODS = [
    Method("frequency pruning", _prune()),
    Method("enumeration pruning", _prune("enumeration")),
    Method("plain average merge", _merge(False, "uniform")),
    Method("MC-SMoE merge", _merge(True, "frequency")),
    Method("MC-SMoE + compress", _merge_compress, COMPRESS),
]

# moe-opt's words for "this pass or option does not exist here".
_MISSING = re.compile(r"Unknown command line argument|no such option|unknown criterion|"
                      r"does not refer to a registered pass", re.IGNORECASE)


def load_splits(path=DATA):
    """{split: (float32 inputs [N, 64], int64 labels [N])}."""
    data = np.load(path)
    out = {}
    for split in ("train", "calib", "test"):
        x = (data[f"{split}.pixels"].astype(np.float32) / 16.0).astype(np.float32)
        out[split] = (x, data[f"{split}.labels"].astype(np.int64))
    return out


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def relative_error(y, y0):
    return float(np.linalg.norm(y.astype(np.float64) - y0) / np.linalg.norm(y0))


def calibrate(model, calib_x, workdir, logits_sample=1024):
    """Runs `python -m moe_opt.calibrate` on the calibration split; returns the
    statistics and activations paths."""
    data = os.path.join(workdir, "calib.npz")
    np.savez(data, x=calib_x)
    stats = os.path.join(workdir, "stats.json")
    acts = os.path.join(workdir, "activations.npz")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.join(ROOT, "python"), env.get("PYTHONPATH")) if p)
    args = [sys.executable, "-m", "moe_opt.calibrate", model, "--data", data, "-o", stats,
            "--logits-sample", str(logits_sample), "--activations", acts,
            "--moe-opt", tool("moe-opt"), "-q"]
    usage = subprocess.run(args[:3] + ["--help"], capture_output=True, text=True, env=env)
    if "--input-sample" in usage.stdout:
        # Layer inputs for enumeration pruning (calibrate versions that record them).
        args += ["--input-sample", str(logits_sample)]
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"calibration failed:\n{r.stderr}")
    return stats, acts


def first_error(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in lines:
        if "error" in line.lower() or _MISSING.search(line):
            return line
    return lines[0] if lines else "(no output)"


def compile_model(model, passes, out):
    """moe-opt MODEL --onnx-infer-shapes --onnx-raise-moe PASSES -o OUT;
    returns (None, stderr) or (reason it failed, stderr)."""
    r = subprocess.run([tool("moe-opt"), model, "--onnx-infer-shapes", "--onnx-raise-moe",
                        *passes, "--mlir-elide-resource-strings-if-larger=1000000000",
                        "-o", out], capture_output=True, text=True)
    if r.returncode == 0:
        return None, r.stderr
    if _MISSING.search(r.stderr):
        return NOT_AVAILABLE, r.stderr
    return "failed: " + first_error(r.stderr), r.stderr


def run_model(mlir, x, workdir, tag):
    """The logits of `x` through moe-run."""
    inp = os.path.join(workdir, f"{tag}.x.npy")
    out = os.path.join(workdir, f"{tag}.y.npy")
    np.save(inp, x)
    r = subprocess.run([tool("moe-run"), mlir, f"--input=@{inp}", f"--output=@{out}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"moe-run {mlir} failed:\n{r.stderr}")
    return np.load(out)


_ELEMENT_BYTES = {"f64": 8, "f32": 4, "f16": 2, "bf16": 2, "i64": 8, "i32": 4, "i8": 1,
                  "i4": 0.5}
_TENSOR = re.compile(r"tensor<([^<>]*)>")
_OP = re.compile(r"= (moe\.[a-z_]+) .* : \(?(.*?)\)? -> ")
_K = re.compile(r"\bk = (\d+)")
_NUM_EXPERTS = re.compile(r"\bnum_experts = (\d+)")


def _tensor(spec):
    """(elements, bytes per element, is float) of a static tensor type."""
    *dims, element = spec.split("x")
    if element not in _ELEMENT_BYTES or any(not d.isdigit() for d in dims):
        raise ValueError(f"expert weight type tensor<{spec}> is not a static known type")
    return (int(np.prod([int(d) for d in dims], dtype=np.int64)), _ELEMENT_BYTES[element],
            element.startswith(("f", "bf")))


def _weights(types):
    """(weight elements, weight bytes, groups) of a `moe.experts` or
    `moe.grouped_matmul` with operand types `types`: the weights are the float
    operands after the first (the rows), the groups come from the integer
    offsets operand (tensor<E+1 x i64>)."""
    elems = nbytes = groups = 0
    for spec in types[1:]:
        n, b, is_float = _tensor(spec)
        if not is_float:
            groups = n - 1
        else:
            elems, nbytes = elems + n, nbytes + n * b
    return elems, nbytes, groups


def ir_costs(text):
    """Per MoE layer of compiled IR text (layers start at each `moe.route`, in
    program order): experts (`moe.dispatch` num_experts), k, the bytes of the
    expert weights and the expert matmul FLOPs per token. Weights are the
    float operands of `moe.experts` (after rows and offsets) and of
    `moe.grouped_matmul` (after lhs; expanded or compressed layers), plus the
    column indices of `moe.scatter_columns` (row-sparse compression). Each
    routed slot multiplies its row by one group's matrices: 2 FLOPs per
    weight element, i.e. k * 2 * elements / groups per token."""
    layers = []
    for line in text.splitlines():
        m = _OP.search(line)
        if not m:
            continue
        op, types = m.group(1), _TENSOR.findall(m.group(2))
        if op == "moe.route":
            layers.append({"k": int(_K.search(line).group(1)), "experts": None, "bytes": 0,
                           "flops_per_token": 0})
            continue
        if op not in ("moe.dispatch", "moe.experts", "moe.grouped_matmul",
                      "moe.scatter_columns"):
            continue
        if not layers:
            raise ValueError(f"{op} before any moe.route")
        layer = layers[-1]
        if op == "moe.dispatch":
            layer["experts"] = int(_NUM_EXPERTS.search(line).group(1))
        elif op == "moe.scatter_columns":
            n, b, _ = _tensor(types[2])  # columns [E, m]
            layer["bytes"] += int(n * b)
        else:
            elems, nbytes, groups = _weights(types)
            layer["bytes"] += int(nbytes)
            layer["flops_per_token"] += layer["k"] * 2 * elems // groups
    return layers


@dataclass
class Row:
    method: str
    fraction: float
    status: str | None = None  # None: ran; else why not
    experts: list = field(default_factory=list)
    accuracy: float | None = None
    error: float | None = None
    bytes: int | None = None
    flops: int | None = None
    logits: np.ndarray | None = None
    note: str = ""


def measure(model, passes, x, labels, workdir, tag, reference=None):
    row = Row("", 0.0)
    mlir = os.path.join(workdir, f"{tag}.mlir")
    row.status, _ = compile_model(model, passes, mlir)
    if row.status:
        return row
    with open(mlir) as f:
        layers = ir_costs(f.read())
    row.experts = [l["experts"] for l in layers]
    row.bytes = sum(l["bytes"] for l in layers)
    row.flops = sum(l["flops_per_token"] for l in layers)
    try:
        row.logits = run_model(mlir, x, workdir, tag)
    except RuntimeError as e:
        row.status = "failed: moe-run: " + first_error(str(e).split("\n", 1)[-1])
        return row
    row.accuracy = accuracy(row.logits, labels)
    row.error = 0.0 if reference is None else relative_error(row.logits, reference)
    return row


def run(model=MODEL, data=DATA, methods=METHODS, fractions=FRACTIONS, workdir=None,
        log=None):
    """Measures the original model and every method x fraction; returns
    (original row, [rows])."""
    splits = load_splits(data)
    x, labels = splits["test"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        stats, acts = calibrate(model, splits["calib"][0], workdir)
        original = measure(model, [], x, labels, workdir, "original")
        if original.status:
            raise RuntimeError(f"the unmodified model does not compile: {original.status}")
        original.method, original.fraction = "original", 1.0
        rows = []
        for i, method in enumerate(methods):
            for j, f in enumerate(fractions):
                row = measure(model, method.passes(stats, acts, f), x, labels, workdir,
                              f"m{i}f{j}", original.logits)
                row.method, row.fraction, row.note = method.name, f, method.note
                rows.append(row)
                if log:
                    log(f"{method.name} {f:g}: "
                        f"{row.status or f'accuracy {row.accuracy:.4f}'}")
    return original, rows


def _per_layer(counts):
    """"6" when every layer has 6 experts, else "6/5"."""
    return str(counts[0]) if len(set(counts)) == 1 else "/".join(map(str, counts))


def table(original, rows):
    total = original.experts
    head = ("| method | experts kept | accuracy | Δ accuracy (points) | rel. output error "
            "| expert weight bytes | expert FLOPs / token |\n|---|---|---|---|---|---|---|\n")

    def line(row):
        name = row.method + (f" ({row.note})" if row.note else "")
        if row.status:
            return f"| {name} | {row.fraction:.0%} | {row.status} | | | | |\n"
        label = f"{row.fraction:.0%} ({_per_layer(row.experts)} of {_per_layer(total)})"
        delta = 100 * (row.accuracy - original.accuracy)
        return (f"| {name} | {label} | {100 * row.accuracy:.1f}% | {delta:+.1f} | "
                f"{row.error:.4f} | {row.bytes:,} | {row.flops:,} |\n")

    return head + line(original) + "".join(line(r) for r in rows)


def git_commit():
    try:
        sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def goal(original, rows, fraction=0.5):
    """The issue's target, checked on the measured rows: MC-SMoE merging at
    `fraction` within 1 point of the original and above both prunings."""
    at = {r.method: r for r in rows if r.fraction == fraction and r.status is None}
    merged = at.get("MC-SMoE merge")
    if merged is None:
        return f"not measured (no MC-SMoE merge result at {fraction:.0%})"
    drop = 100 * (original.accuracy - merged.accuracy)
    pruned = [at[m] for m in ("frequency pruning", "enumeration pruning") if m in at]
    best = max(pruned, key=lambda r: r.accuracy, default=None)
    within = drop <= 1.0
    better = best is not None and merged.accuracy > best.accuracy
    text = (f"MC-SMoE merge at {fraction:.0%}: {100 * merged.accuracy:.1f}% "
            f"({-drop:+.1f} points, {'within' if within else 'not within'} 1 point)")
    if best is not None:
        text += (f"; best pruning at {fraction:.0%}: {best.method} "
                 f"{100 * best.accuracy:.1f}% ({'below' if better else 'not below'} MC-SMoE)")
    return text + (": goal met." if within and better else ": goal not met.")


def _model_section(title, model, original, rows):
    info = {}
    meta = os.path.splitext(model)[0] + ".json"
    if os.path.exists(meta):
        with open(meta) as f:
            info = json.load(f)
    how = ("Trained from scratch." if "upcycled_from_dense_epochs" not in info else
           f"Upcycled: a dense model (one FFN per layer) trained "
           f"{info['upcycled_from_dense_epochs']} epochs "
           f"({100 * info['dense_test_accuracy_torch']:.1f}% test accuracy) copied into every "
           f"expert, then trained as an MoE.")
    missing = sorted({r.method for r in rows if r.status == NOT_AVAILABLE})
    spread = max((abs(100 * (r.accuracy - original.accuracy)) for r in rows
                  if r.status is None), default=None)
    how += f" MoE training: {info.get('epochs', '?')} epochs."
    if spread is not None and spread <= 1.5:
        how += (f" Every variant measured is within {spread:.1f} points of the original "
                f"({spread / 0.2:.0f} test images): on this model the methods differ by "
                "little more than noise.")
    text = (f"## {title}: `{os.path.relpath(model, ROOT)}`\n\n"
            f"{how}\n\nGoal (MC-SMoE at 50% within 1 point of the original, above pruning): "
            f"{goal(original, rows)}\n\n"
            f"{table(original, rows)}")
    if missing:
        text += ("\nNot measured (the pass is not in this moe-opt): "
                 + ", ".join(missing) + ".\n")
    for r in rows:
        if r.status and r.status != NOT_AVAILABLE:
            text += f"\n{r.method} at {r.fraction:.0%}: {r.status}\n"
    return text


def document(results, command):
    """results: [(title, model path, original row, rows)]."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# Quality of expert pruning, merging and compression

Generated by `{command}` on {now}, commit {git_commit()}.

Models: trained by `python -m moe_opt.quality.train` on scikit-learn's digits (8x8 images,
10 classes; one token per image): input projection 64→32, two residual Mixtral
MoE layers (8 SwiGLU experts of width 16, top-2 softmax routing, renormalized;
transformers' `batched_mm` experts exported at opset 17; load-balancing loss in training),
classifier →10. The experts hold the models' only nonlinearity. Splits
(`test/models/quality/digits.npz`): 1000 train, 297 calibration
(`python -m moe_opt.calibrate`), 500 test (every number below: one test image is 0.2
points).

Each variant is compiled by `moe-opt --onnx-infer-shapes --onnx-raise-moe <passes>` and
run by `moe-run` on the test split. Passes: frequency pruning
`--moe-prune-experts="stats=S keep-fraction=F"`, enumeration pruning the same with
`criterion=enumeration`, plain average merge `--moe-merge-experts="stats=S keep-fraction=F
align=false weighting=uniform"`, MC-SMoE merge the same with `align=true
weighting=frequency`, MC-SMoE + compress: that merge then
`--moe-compress-experts="{COMPRESS}"`.
- accuracy: argmax of the logits vs the labels; Δ against the original model (moe-run).
- rel. output error: ‖y − y₀‖ / ‖y₀‖ over the test logits, y₀ = the original model's.
- expert weight bytes: the weights of both layers' `moe.experts` (or of their
  `moe.grouped_matmul`s and `moe.scatter_columns` indices once expanded or compressed) in
  the compiled IR.
- expert FLOPs / token: Σ over layers and expert matmuls of k · 2 · (weight elements /
  experts), the experts' matmuls only (router, activation and combine not counted).

What each method keeps exact: pruning keeps the surviving experts bit for bit and sends a
pruned expert's tokens to the next experts the router ranks; merging keeps every token's
routing but replaces a group's experts by their average; enumeration pruning picks, per
layer, the kept set with the least output error of that layer on the calibration inputs
(the other layer unpruned), which need not be the set with the best end-to-end accuracy.
"""
    for title, model, original, rows in results:
        text += "\n" + _model_section(title, model, original, rows)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m moe_opt.quality.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None,
                        help="model(s) to measure (default: both committed models)")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--quick", action="store_true",
                        help="the from-scratch model, frequency pruning at 100%% and 50%% only")
    parser.add_argument("--write-doc", metavar="MD", default=None,
                        help="also write the report (command, date, commit, tables) here")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the measured numbers as JSON")
    args = parser.parse_args(argv)
    methods, fractions = (METHODS[:1], (1.0, 0.5)) if args.quick else (METHODS, FRACTIONS)
    models = args.model or ([MODEL] if args.quick else [MODEL, MODEL_UPCYCLED])
    results = []
    for model in models:
        model = os.path.abspath(model)
        title = {MODEL: "From scratch", MODEL_UPCYCLED: "Upcycled"}.get(
            model, os.path.basename(model))
        original, rows = run(model, args.data, methods, fractions,
                             log=lambda s, t=title: print(f"{t}: {s}", file=sys.stderr))
        results.append((title, model, original, rows))
    args_text = " ".join(sys.argv[1:] if argv is None else argv)
    command = "(cd python && python -m moe_opt.quality.report" + (
        f" {args_text})" if args_text else ")")
    text = document(results, command)
    print(text)
    if args.write_doc:
        with open(args.write_doc, "w") as f:
            f.write(text)
    if args.json:
        keep = ("method", "fraction", "status", "experts", "accuracy", "error", "bytes", "flops")
        with open(args.json, "w") as f:
            json.dump({model: [{k: getattr(r, k) for k in keep} for r in [original, *rows]]
                       for _, model, original, rows in results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
