"""Import benchmark: `moe-opt model.onnx` against `onnx.load` on a large MoE model.

    .venv/bin/python bench/import/run.py                    # full size, ~2.5 GB of fp16 weights
    .venv/bin/python bench/import/run.py --layers 4         # quick
    .venv/bin/python bench/import/run.py --save             # also writes results/<date>.md

Writes a synthetic decoder stack of `--layers` MoE layers (RMSNorm, router
MatMul, com.microsoft.MoE with fused SwiGLU experts, a sigmoid-gated shared
expert as a plain MatMul chain, residual Add) whose initializers all live in
external data files. The weights are streamed to disk tensor by tensor, so
the generator never holds more than one chunk of them.

Then measures, each in a fresh process (wall time and peak RSS from wait4):
  (a) moe-opt model.onnx -o /dev/null                      import + print, weights elided
  (b) moe-opt model.onnx --onnx-infer-shapes -o /dev/null
  (c) python: onnx.load(model, load_external_data=True)    timed around the call
The page cache is warmed first, so onnx.load is not charged for disk reads.
Goals (issue 3): moe-opt >= 10x faster than onnx.load and peak RSS <= 10% of
the weight bytes.
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("MOE_BUILD_DIR", os.path.join(ROOT, "build")), "bin")

DTYPES = {"float16": (np.float16, TensorProto.FLOAT16), "float32": (np.float32, TensorProto.FLOAT)}
ALIGN = 4096  # offsets of large tensors in the data files, as onnx aligns them
CHUNK = 64 << 20  # bytes generated and written at a time


class WeightWriter:
    """Appends tensors to external data files, `per_file` bytes at most each."""

    def __init__(self, workdir, dtype, per_file, seed=0):
        self.workdir, self.per_file = workdir, per_file
        self.np_dtype, self.onnx_dtype = DTYPES[dtype]
        # A pool of random values to cut the tensors from: fast, and no tensor is
        # all zeros (a sparse file would not exercise the page cache honestly).
        rng = np.random.default_rng(seed)
        self.pool = (rng.standard_normal(CHUNK // np.dtype(self.np_dtype).itemsize + 4096)
                     * 0.02).astype(self.np_dtype).tobytes()
        self.files, self.handle, self.offset = [], None, 0
        self.total = 0

    def _open_next(self):
        if self.handle:
            self.handle.close()
        name = f"weights.{len(self.files)}.bin"
        self.files.append(name)
        self.handle = open(os.path.join(self.workdir, name), "wb")
        self.offset = 0

    def add(self, name, shape, dtype=None):
        np_dtype, onnx_dtype = (self.np_dtype, self.onnx_dtype) if dtype is None else DTYPES[dtype]
        nbytes = int(np.prod(shape)) * np.dtype(np_dtype).itemsize
        if self.handle is None or (self.offset and self.offset + nbytes > self.per_file):
            self._open_next()
        pad = -self.offset % ALIGN
        if pad:
            self.handle.write(b"\0" * pad)
            self.offset += pad
        start, left = self.offset, nbytes
        shift = (self.total // 7) % 4096 * 2  # vary the contents between tensors
        while left:
            n = min(left, CHUNK)
            self.handle.write(self.pool[shift:shift + n])
            left -= n
        self.offset += nbytes
        self.total += nbytes
        t = TensorProto(name=name, dims=list(shape), data_type=onnx_dtype)
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.files[-1]), ("offset", str(start)),
                           ("length", str(nbytes))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return t

    def close(self):
        if self.handle:
            self.handle.close()


def build_model(workdir, args):
    """Writes model.onnx + weights.*.bin into workdir; returns (path, weight bytes, #nodes)."""
    H, I, E, S = args.hidden, args.inter, args.experts, args.shared_inter
    w = WeightWriter(workdir, args.dtype, args.file_gb << 30)
    elem = w.onnx_dtype
    inits, nodes = [], []

    def init(name, shape):
        inits.append(w.add(name, shape))
        return name

    def node(op, inputs, name, domain="", n_out=1, **attrs):
        outs = [f"{name}_out{i}" if n_out > 1 else f"{name}_out" for i in range(n_out)]
        nodes.append(helper.make_node(op, inputs, outs, name=name, domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs

    x = "hidden_states"
    for l in range(args.layers):
        p = f"layers.{l}"
        h = node("SimplifiedLayerNormalization", [x, init(f"{p}.norm.weight", [H])],
                 f"{p}/norm", axis=-1, epsilon=1e-6)
        logits = node("MatMul", [h, init(f"{p}.router.weight", [H, E])], f"{p}/router")
        routed = node("MoE", [h, logits, init(f"{p}.experts.fc1", [E, 2 * I, H]), "",
                              init(f"{p}.experts.fc2", [E, H, I])], f"{p}/moe",
                      domain="com.microsoft", k=args.top_k, activation_type="swiglu",
                      swiglu_fusion=1, normalize_routing_weights=1)
        gate = node("MatMul", [h, init(f"{p}.shared.gate", [H, S])], f"{p}/shared/gate")
        up = node("MatMul", [h, init(f"{p}.shared.up", [H, S])], f"{p}/shared/up")
        act = node("Mul", [gate, node("Sigmoid", [gate], f"{p}/shared/sigmoid")],
                   f"{p}/shared/silu")
        down = node("MatMul", [node("Mul", [act, up], f"{p}/shared/glu"),
                               init(f"{p}.shared.down", [S, H])], f"{p}/shared/down")
        sgate = node("Sigmoid", [node("MatMul", [h, init(f"{p}.shared.gate_proj", [H, 1])],
                                      f"{p}/shared/gate_logit")], f"{p}/shared/gate_sigmoid")
        shared = node("Mul", [down, sgate], f"{p}/shared/out")
        x = node("Add", [x, node("Add", [routed, shared], f"{p}/mlp_sum")], f"{p}/residual")
    out = node("SimplifiedLayerNormalization", [x, init("norm.weight", [H])], "final_norm",
               axis=-1, epsilon=1e-6)
    w.close()

    graph = helper.make_graph(
        nodes, "moe_stack",
        [helper.make_tensor_value_info("hidden_states", elem, ["tokens", H])],
        [helper.make_tensor_value_info(out, elem, ["tokens", H])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="bench/import")
    model.ir_version = 8
    path = os.path.join(workdir, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path, w.total, len(nodes), w.files


# Linux starts a child's peak RSS at its parent's when it execs, so the command is
# started by a small fresh process: GNU time if installed, else a bare python.
TIME = "/usr/bin/time"
WRAPPER = r"""
import os, resource, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status = os.waitpid(pid, 0)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd):
    """Runs cmd in a fresh process; returns (wall seconds, peak RSS bytes, stdout)."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        if os.access(TIME, os.X_OK):
            wrapped = [TIME, "-f", "%M", "-o", rss.name] + cmd
        else:
            wrapped = [sys.executable, "-S", "-c", WRAPPER] + cmd
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=subprocess.PIPE, stderr=err)
        wall = time.perf_counter() - start
        err.seek(0)
        log = err.read().decode(errors="replace")
        if proc.returncode:
            sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{log[-4000:]}")
        peak = rss.read() if wrapped[0] == TIME else log
    return wall, int(peak.strip().splitlines()[-1]) * 1024, proc.stdout.decode()


ONNX_LOAD = r"""
import resource, sys, time
import onnx
start = time.perf_counter()
m = onnx.load(sys.argv[1], load_external_data=True)
t = time.perf_counter() - start
n = sum(len(i.raw_data) for i in m.graph.initializer)
print(t, n)
"""


def measure(label, cmd, repeat, inner_time=False):
    walls, rss = [], []
    for _ in range(repeat):
        wall, peak, out = run_measured(cmd)
        if inner_time:
            wall, loaded = out.split()
            wall = float(wall)
        walls.append(wall)
        rss.append(peak)
    return {"label": label, "time": statistics.median(walls), "times": walls,
            "rss": max(rss)}


def warm_page_cache(workdir, files):
    buf = bytearray(CHUNK)
    for name in files:
        with open(os.path.join(workdir, name), "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def gib(n):
    return f"{n / (1 << 30):.2f} GiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--inter", type=int, default=1408, help="expert intermediate size")
    ap.add_argument("--shared-inter", type=int, default=1408)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float16")
    ap.add_argument("--file-gb", type=int, default=1, help="max GiB per external data file")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median time)")
    ap.add_argument("--workdir", help="keep the model here (default: a temp dir, removed)")
    ap.add_argument("--moe-opt", default=os.path.join(BIN, "moe-opt"))
    ap.add_argument("--save", action="store_true",
                    help="also write the table to bench/import/results/<date>.md")
    args = ap.parse_args()

    tmp = None
    if args.workdir:
        workdir = args.workdir
        os.makedirs(workdir, exist_ok=True)
    else:
        tmp = workdir = tempfile.mkdtemp(prefix="moe-import-bench-")
    try:
        start = time.perf_counter()
        path, weight_bytes, num_nodes, files = build_model(workdir, args)
        gen_s = time.perf_counter() - start
        print(f"wrote {path}: {num_nodes} nodes, {gib(weight_bytes)} of weights in "
              f"{len(files)} file(s) in {gen_s:.1f} s", file=sys.stderr)
        warm_page_cache(workdir, files)

        rows = [
            measure("moe-opt model.onnx", [args.moe_opt, path, "-o", "/dev/null"], args.repeat),
            measure("moe-opt model.onnx --onnx-infer-shapes",
                    [args.moe_opt, path, "--onnx-infer-shapes", "-o", "/dev/null"], args.repeat),
            measure("onnx.load(load_external_data=True)",
                    [sys.executable, "-c", ONNX_LOAD, path], args.repeat, inner_time=True),
        ]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    base = rows[-1]["time"]
    lines = [
        f"Model: {args.layers} layers x {args.experts} experts (com.microsoft.MoE, SwiGLU, "
        f"hidden {args.hidden}, inter {args.inter}, shared expert {args.shared_inter}), "
        f"{args.dtype}, {num_nodes} nodes; weights {weight_bytes} bytes ({gib(weight_bytes)}) "
        f"in {len(files)} external file(s); page cache warm; median of {args.repeat} runs, "
        f"peak RSS = max over runs.",
        "",
        "| command | weight bytes | time (s) | peak RSS (MiB) | RSS / weights | "
        "speedup vs onnx.load |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| `{r['label']}` | {weight_bytes} | {r['time']:.3f} | "
                     f"{r['rss'] / (1 << 20):.0f} | {100 * r['rss'] / weight_bytes:.1f}% | "
                     f"{base / r['time']:.1f}x |")
    goals = []
    for r in rows[:2]:
        fast = base / r["time"] >= 10
        small = r["rss"] <= 0.10 * weight_bytes
        goals.append(f"- `{r['label']}`: >=10x faster: {'yes' if fast else 'NO'} "
                     f"({base / r['time']:.1f}x); RSS <= 10% of weights: "
                     f"{'yes' if small else 'NO'} ({100 * r['rss'] / weight_bytes:.1f}%)")
    lines += ["", "Goals (issue 3):"] + goals
    table = "\n".join(lines)
    print(table)

    if args.save:
        results = os.path.join(ROOT, "bench", "import", "results")
        os.makedirs(results, exist_ok=True)
        out = os.path.join(results, f"{datetime.date.today().isoformat()}.md")
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, onnx {onnx.__version__}"
        with open(out, "w") as f:
            f.write(f"# moe-opt import vs onnx.load\n\n`{' '.join(['bench/import/run.py'] + sys.argv[1:])}`"
                    f" on {machine}\n\n{table}\n")
        print(f"saved {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
