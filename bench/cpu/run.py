"""CPU benchmark: moe-run against onnxruntime on the same .onnx files, and the
grouped matmul against OpenBLAS sgemm on the same FLOPs, in one run.

    .venv/bin/python bench/cpu/run.py            # the issue's sizes, H=1024, I=2816
    .venv/bin/python bench/cpu/run.py --quick    # H=256, I=704 (seconds)
    .venv/bin/python bench/cpu/run.py --save bench/cpu/results/DATE.md

Every model is an onnxruntime com.microsoft.MoE layer (SwiGLU, top-2,
[E, out, in] weights stored with external data so that files past 2 GB work;
moe-run passes them to the compiled code as parameters, packed once to
[E, in, out]). Both runtimes use one thread. The grouped matmul runs with
the routed rows of T=512 (1024 rows spread evenly over E experts) in both
weight layouts, against numpy's OpenBLAS sgemm on the same FLOPs. Prints
markdown tables of medians, of the CPU time of the calling thread unless
--clock=wall (all three run on it).
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

# One BLAS thread, like moe-run and onnxruntime here: OpenBLAS reads these
# when numpy is imported, so they must be set before (without threadpoolctl,
# setting them later had no effect and sgemm ran on every core).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from moe_opt.contrib_models import ContribMoE  # noqa: E402

BIN = os.path.join(os.environ.get("MOE_BUILD_DIR", os.path.join(ROOT, "build")), "bin")


# What a time is: "cpu", the CPU time of the thread that runs the layer
# (onnxruntime, OpenBLAS and moe-run's compiled code all run on the calling
# thread with one thread each), which leaves out the time spent waiting for
# a core on a machine shared with other work; or "wall", elapsed time. Set
# by Table from --clock.
CLOCK = {"clock": "cpu"}


def median_ms(fn, repetitions):
    now = time.thread_time if CLOCK["clock"] == "cpu" else time.perf_counter
    fn()  # warm-up
    times = []
    for _ in range(repetitions):
        start = now()
        fn()
        times.append((now() - start) * 1e3)
    return float(np.median(times))


def benchmark_ms(stdout):
    """The median of moe-run's benchmark line, on the chosen clock."""
    line = [l for l in stdout.splitlines() if l.startswith("benchmark:")][0]
    field = "median_cpu_ms=" if CLOCK["clock"] == "cpu" else "median_ms="
    return float(line.split(field)[1].split()[0])


# Extra moe-run flags (--moe-run-args, e.g. "--pack-panels=0" for an A/B run).
MOE_RUN_ARGS = []


def moe_run_ms(model, x_path, repetitions, out_path):
    result = subprocess.run(
        [os.path.join(BIN, "moe-run"), model, f"--input=@{x_path}",
         f"--input=@{x_path}.logits.npy", f"--output=@{out_path}",
         f"--benchmark-repetitions={repetitions}"] + MOE_RUN_ARGS,
        capture_output=True, text=True, check=True)
    return benchmark_ms(result.stdout)


def bench_layer(tmp, experts, tokens, args):
    layer = ContribMoE(tokens=tokens, hidden=args.hidden, inter=args.inter, experts=experts,
                       k=2, activation_type="swiglu", swiglu_fusion=1,
                       normalize_routing_weights=1, seed=experts)
    model = layer.model()
    path = os.path.join(tmp, f"moe_e{experts}.onnx")
    if not os.path.exists(path):
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"moe_e{experts}.weights")
    rng = np.random.default_rng(tokens)
    x = rng.standard_normal((tokens, args.hidden)).astype(np.float32)
    logits = rng.standard_normal((tokens, experts)).astype(np.float32)
    x_path = os.path.join(tmp, "x.npy")
    np.save(x_path, x)
    np.save(x_path + ".logits.npy", logits)
    out_path = os.path.join(tmp, "out.npy")

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = {"input": x, "router_probs": logits}
    ort_ms = median_ms(lambda: session.run(None, feeds), args.repetitions)
    ours_ms = moe_run_ms(path, x_path, args.repetitions, out_path)
    expected = session.run(None, feeds)[0]
    error = np.abs(np.load(out_path) - expected).max() / np.abs(expected).max()
    return ours_ms, ort_ms, error


# Weight layouts of the grouped matmul benchmark: [E, in, out] (packed
# parameters), [E, out, in] (`transpose_rhs`, read as it is) and column
# panels [E, out/64, in, 64] (`panels`, moe-pack-panels' layout).
LAYOUTS = {"plain": "[E, in, out]", "transposed": "[E, out, in]",
           "panels": "[E, out/64, in, 64]"}


def bench_grouped_matmul(tmp, experts, rows_per_expert, layout, args):
    """One grouped matmul [E*r, H] x W vs numpy (OpenBLAS) sgemm of the same
    FLOPs, [r, H] x [H, I] per group. W is an input in one of LAYOUTS."""
    E, H, I = experts, args.hidden, args.inter
    n = E * rows_per_expert
    w_type = {"plain": f"tensor<{E}x{H}x{I}xf32>", "transposed": f"tensor<{E}x{I}x{H}xf32>",
              "panels": f"tensor<{E}x{I // 64}x{H}x64xf32>"}[layout]
    attrs = {"plain": "", "transposed": " {transpose_rhs}", "panels": " {panels}"}[layout]
    source = f"""
func.func @gmm(%a: tensor<{n}x{H}xf32>, %w: {w_type}, %off: tensor<{E + 1}xi64>)
    -> tensor<{n}x{I}xf32> {{
  %y = moe.grouped_matmul %a, %w offsets(%off){attrs}
      : (tensor<{n}x{H}xf32>, {w_type}, tensor<{E + 1}xi64>) -> tensor<{n}x{I}xf32>
  return %y : tensor<{n}x{I}xf32>
}}
"""
    model = os.path.join(tmp, "gmm.mlir")
    with open(model, "w") as f:
        f.write(source)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, H)).astype(np.float32)
    w = rng.standard_normal((E, H, I)).astype(np.float32)
    off = np.arange(E + 1, dtype=np.int64) * rows_per_expert
    w_in = {"plain": lambda: w,
            "transposed": lambda: np.ascontiguousarray(w.transpose(0, 2, 1)),
            "panels": lambda: np.ascontiguousarray(
                w.reshape(E, H, I // 64, 64).transpose(0, 2, 1, 3))}[layout]()
    paths = []
    for name, value in (("a", a), ("w", w_in), ("off", off)):
        paths.append(os.path.join(tmp, f"{name}.npy"))
        np.save(paths[-1], value)
    out = os.path.join(tmp, "gmm_out.npy")
    result = subprocess.run(
        [os.path.join(BIN, "moe-run"), model] + [f"--input=@{p}" for p in paths]
        + [f"--output=@{out}", f"--benchmark-repetitions={args.repetitions}"]
        + MOE_RUN_ARGS,
        capture_output=True, text=True, check=True)
    ours_ms = benchmark_ms(result.stdout)
    blas_ms = median_ms(lambda: [a[off[e]:off[e + 1]] @ w[e] for e in range(E)],
                        args.repetitions)
    gflop = 2.0 * n * H * I / 1e9
    y = np.load(out)
    error = max(np.abs(y[off[e]:off[e + 1]] - a[off[e]:off[e + 1]] @ w[e]).max()
                for e in range(E)) / np.abs(y).max()
    return gflop / (ours_ms / 1e3), gflop / (blas_ms / 1e3), error


class Table:
    """The command line the CPU benchmarks share (sizes, repetitions,
    --quick, --save) and the lines they print, saved with the command."""

    def __init__(self, description, script, extra_arguments=lambda parser: None):
        parser = argparse.ArgumentParser(description=description,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--hidden", type=int, default=1024)
        parser.add_argument("--inter", type=int, default=2816)
        parser.add_argument("--experts", type=int, nargs="+", default=[8, 64])
        parser.add_argument("--tokens", type=int, nargs="+", default=[1, 16, 512])
        parser.add_argument("--repetitions", type=int, default=10)
        parser.add_argument("--quick", action="store_true",
                            help="H=256, I=704: the sizes of the first results")
        parser.add_argument("--save", metavar="FILE.md",
                            help="also write the tables (with the command) to FILE.md")
        parser.add_argument("--moe-run-args", default="",
                            help="extra moe-run flags, e.g. --pack-panels=0")
        parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                            help="time the calling thread's CPU time (default; robust "
                                 "to other work on the machine) or elapsed time")
        extra_arguments(parser)
        self.args = parser.parse_args()
        CLOCK["clock"] = self.args.clock
        MOE_RUN_ARGS[:] = self.args.moe_run_args.split()
        if self.args.quick:
            self.args.hidden, self.args.inter = 256, 704
        self.script = script
        self.lines = []

    def emit(self, text=""):
        print(text, flush=True)
        self.lines.append(text)

    def save(self):
        if self.args.save:
            with open(self.args.save, "a") as f:
                f.write(f"\n## {datetime.date.today()}: `{self.script} "
                        f"{' '.join(sys.argv[1:])}`\n\n")
                f.write("\n".join(self.lines) + "\n")


def main():
    table = Table(__doc__, "bench/cpu/run.py")
    args, emit = table.args, table.emit
    emit(f"H={args.hidden}, I={args.inter}, top-2 SwiGLU, fp32, 1 thread each, "
         f"{args.clock} time\n")
    emit("| E | T | moe-run ms | onnxruntime MoE ms | speedup | max rel err |")
    emit("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for experts in args.experts:
            for tokens in args.tokens:
                ours, theirs, err = bench_layer(tmp, experts, tokens, args)
                emit(f"| {experts} | {tokens} | {ours:.3f} | {theirs:.3f} | "
                     f"{theirs / ours:.2f}x | {err:.1e} |")
            # One model file at a time: E=64 at the sizes is 2.2 GB.
            for name in os.listdir(tmp):
                if name.startswith(f"moe_e{experts}."):
                    os.remove(os.path.join(tmp, name))
        emit("\nGrouped matmul of T=512 top-2 (1024 rows over E experts), weights "
             "as inputs:\n")
        emit("| E | rows/expert | weights | moe GFLOP/s | OpenBLAS sgemm GFLOP/s | "
             "ratio | max rel err |")
        emit("|---|---|---|---|---|---|---|")
        for experts in args.experts:
            rows = max(1, 1024 // experts)
            for layout in LAYOUTS:
                if layout == "panels" and args.inter % 64:
                    continue
                ours, blas, err = bench_grouped_matmul(tmp, experts, rows, layout, args)
                emit(f"| {experts} | {rows} | {LAYOUTS[layout]} | {ours:.1f} | {blas:.1f} | "
                     f"{ours / blas:.2f} | {err:.1e} |")
    table.save()

if __name__ == "__main__":
    main()
