"""Whole MoE layers in the emulator: the GPU layer function that
--moe-prepare-gpu-layers outlines from a model runs on the CPU (moe-run
--function, the CPU lowering that the other tests check against
onnxruntime) and as the GPU lowering's host function and kernels (routing,
dispatch, grouped matmuls, activation, combine), on the same random
inputs."""
import os
import re

import numpy as np

from . import host, kernel, lowering

MOE_RUN = os.path.join(lowering.BUILD_DIR, "bin", "moe-run")
LOG = lambda *a: None
RAISE = ["--onnx-infer-shapes", "--onnx-raise-moe", "--moe-fuse-gating"]

_LAYER = re.compile(r"  func\.func private @(\w+)\((.*?)\) -> (\S+) attributes \{moe\.gpu_layer\}"
                    r" \{\n(.*?)\n  \}\n", re.S)


class Layer:
    """The first GPU layer of a model: its name, argument types, body and
    the module that holds it alone (public, for moe-run and the lowering)."""

    def __init__(self, model, workdir, element="bf16", passes=(), prepare=""):
        """`passes` run between the raising and the expansion (compression),
        `prepare` adds options of --moe-prepare-gpu-layers."""
        prepared = os.path.join(workdir, "prepared.mlir")
        lowering._run([lowering.MOE_OPT, model, *RAISE, *passes, "--moe-expand-experts",
                       f"--moe-prepare-gpu-layers=element-type={element} {prepare}",
                       "--mlir-elide-resource-strings-if-larger=100000000", "-o", prepared])
        m = _LAYER.search(open(prepared).read())
        if m is None:
            raise RuntimeError(f"{model}: no GPU layer")
        self.name, self.result_type, self.body = m.group(1), m.group(3), m.group(4)
        self.args = [tuple(a.split(": ", 1)) for a in m.group(2).split(", %")]
        self.args = [("%" + n.lstrip("%"), t) for n, t in self.args]
        self.module = os.path.join(workdir, "layer.mlir")
        with open(self.module, "w") as f:
            f.write("module {\n" + m.group(0).replace("func.func private", "func.func", 1) +
                    "}\n")

    def inputs(self, tokens, rng, index_values=()):
        """Random arguments for `tokens` tokens: one hidden state for every
        [?, H] argument (the router's input and the rows, in their types),
        weights scaled by 1/sqrt(K), positive block scales, random packed
        bytes, distinct scatter columns; `index_values` for the index
        arguments, in order."""
        hidden = {}
        index_values = list(index_values)
        values = []
        for name, ty in self.args:
            if ty == "index":
                values.append(index_values.pop(0))
                continue
            shape, elt = _tensor_type(ty)
            dt = kernel.DT[elt]
            scatter = re.search(rf"moe\.scatter_columns .* columns\({name}\) .*: \(tensor<\S+, "
                                rf"tensor<\?x(\d+)x", self.body)
            if scatter:
                # Distinct columns of the destination per group, the last
                # quarter -1 (skipped), as --moe-compress-experts pads them.
                width = int(scatter.group(1))
                columns = np.stack([rng.permutation(width)[:shape[1]] for _ in range(shape[0])])
                columns[:, shape[1] - shape[1] // 4:] = -1
                values.append(columns.astype(np.int64).astype(dt))
                continue
            if elt not in kernel.FLOATS:
                values.append(rng.integers(0, 256, shape, dtype=np.uint8).astype(dt))
                continue
            if shape[0] == -1:
                # Rounded to bf16, so that the router's f32 input and the
                # 16-bit rows hold the same values.
                h = shape[1]
                if h not in hidden:
                    hidden[h] = rng.standard_normal((tokens, h)).astype(np.float32).astype(
                        kernel.BF16)
                value = hidden[h]
            elif re.search(rf"moe\.dequantize %\w+, {name}\b", self.body):
                value = rng.uniform(0.5, 1.5, shape) / 64
            elif len(shape) == 3:
                value = rng.uniform(-1, 1, shape) * 2 / np.sqrt(shape[1])
            elif len(shape) == 2 and re.search(rf"moe\.fused_route .*, {name}\b", self.body):
                value = rng.standard_normal(shape)
            else:  # biases (of the router, the selection or the experts)
                value = rng.uniform(-0.5, 0.5, shape)
            values.append(np.asarray(value, np.float64).astype(np.float32).astype(dt))
        return values

    def run_cpu(self, values, workdir):
        """The layer's result from moe-run (the CPU lowering). Index
        arguments become constants of a wrapper, as moe-run passes tensors
        only."""
        module, function = self.module, self.name
        if any(ty == "index" for _, ty in self.args):
            module, function = self._wrapped(values, workdir), "cpu_entry"
        tensors = [v for v, (_, ty) in zip(values, self.args) if ty != "index"]
        (result,) = run_cpu(module, function, tensors, workdir)
        return result

    def _wrapped(self, values, workdir):
        params = [(n, t) for n, t in self.args if t != "index"]
        constants, operands = [], []
        for (name, ty), value in zip(self.args, values):
            if ty == "index":
                constants.append(f"    {name} = arith.constant {int(value)} : index\n")
            operands.append(name)
        text = open(self.module).read().rstrip()[:-1]  # the module's closing brace
        text += (f"  func.func @cpu_entry({', '.join(f'{n}: {t}' for n, t in params)}) -> "
                 f"{self.result_type} {{\n" + "".join(constants) +
                 f"    %r = func.call @{self.name}({', '.join(operands)}) : "
                 f"({', '.join(t for _, t in self.args)}) -> {self.result_type}\n"
                 f"    return %r : {self.result_type}\n  }}\n}}\n")
        path = os.path.join(workdir, "wrapped.mlir")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_gpu(self, values, options, workdir, mutate=None):
        """(result, problems, launches, buffers) of the layer lowered with
        --convert-moe-to-gpu=`options` and emulated (see host.run_host);
        `mutate` edits the kernels' text first."""
        host_file, kernels_file = self._lowered(options, workdir, "convert-moe-to-gpu", mutate)
        return host.run_host(host_file, kernels_file, values, log=LOG,
                             keep_contents=_ranks_slots)

    def _lowered(self, options, workdir, pass_name, mutate):
        files = lowering.lower_file(self.module, options, workdir, pass_name, pass_name)
        if mutate:
            lowering.mutate_file(files[1], mutate)
        return files

    def run_entry(self, values, options, workdir, mutate=None):
        """run_gpu through the layer's C entry (moe-gpu-entry-points): the
        arguments and the result in device buffers, the leading sizes and
        index arguments in `dims`, intermediates in one poisoned workspace
        of the size the entry asks for."""
        host_file, kernels_file = self._lowered(options, workdir, "moe-gpu-entry-points",
                                                mutate)
        buffers, pointers, dims = kernel.Buffers(), [], []
        tokens = None
        for i, (value, (_, ty)) in enumerate(zip(values, self.args)):
            if ty == "index":
                dims.append(int(value))
                continue
            pointers.append(kernel.Ptr(buffers.add(f"arg{i}", value), 0))
            if _shape(ty)[0] == -1:
                dims.append(value.shape[0])
                tokens = value.shape[0]
        shape, elt = _tensor_type(self.result_type)
        shape = [tokens if s == -1 else s for s in shape]
        size = int(np.prod(shape)) * np.dtype(kernel.DT[elt]).itemsize
        result = buffers.add("result", np.full(size, 0xFF, np.uint8))
        pointers.append(kernel.Ptr(result, 0))
        arrays = {"host:buffers": pointers, "host:dims": dims}
        run = lambda function, args: host.run_host(  # noqa: E731
            host_file, kernels_file, args, log=LOG, function=function, buffers=buffers,
            host_arrays=arrays, keep_contents=_ranks_slots)
        workspace_size, *_ = run("__moe_layer_workspace_0", [kernel.Ptr("host:dims", 0)])
        buffers.add("workspace", np.full(max(int(workspace_size), 1), 0xFF, np.uint8))
        _, problems, launches, _ = run("__moe_layer_forward_0",
                                       [kernel.Ptr("host:buffers", 0),
                                        kernel.Ptr("host:dims", 0),
                                        kernel.Ptr("workspace", 0), None])
        out = np.frombuffer(buffers.data[result].tobytes(), kernel.DT[elt]).reshape(shape)
        launches[-1]["result"] = result
        return out, problems, launches, buffers


def run_cpu(module, function, values, workdir, results=1):
    """The `results` results of `function` in `module` from moe-run (the
    CPU lowering) on the tensors `values` (bf16 ones as their bits, as
    moe-run reads and writes them). -O0: only the numbers matter here."""
    args = [MOE_RUN, module, "-O0", f"--function={function}"]
    for i, value in enumerate(values):
        path = os.path.join(workdir, f"in{i}.npy")
        np.save(path, value.view(np.uint16) if value.dtype == kernel.BF16 else value)
        args.append(f"--input=@{path}")
    outputs = [os.path.join(workdir, f"cpu{i}.npy") for i in range(results)]
    lowering._run(args + [f"--output=@{out}" for out in outputs])
    return [np.load(out) for out in outputs]


# The dispatch kernels that rank the slots: where their ids, offsets and row
# map are among their arguments (scatter, or the one-block form).
_DISPATCH_ORDER = {"scatter": (0, 2, 3), "rank": (0, 1, 2)}


def _kind(kernel_name):
    """A dispatch kernel's kind (dispatch_<kind>_<signature>), else ""."""
    for kind in (*_DISPATCH_ORDER, "weight_mark"):
        if kernel_name.startswith(f"dispatch_{kind}_"):
            return kind
    return ""


def _ranks_slots(kernel_name):
    return _kind(kernel_name) in _DISPATCH_ORDER


def dispatch_order_problems(launches, per_sequence=False):
    """The token-choice dispatch's promise (docs/GPU.md): an expert's rows
    are the slots it keeps in token-then-slot order, and under a capacity
    in_order keeps its first slots (its first of each sequence
    `per_sequence`; by_weight, its heaviest: both left to the result's
    check)."""
    kinds = [_kind(l.get("name", "")) for l in launches]
    ranked = [l for l, kind in zip(launches, kinds) if kind in _DISPATCH_ORDER]
    if not ranked:
        return []
    by_weight = "weight_mark" in kinds
    at = _DISPATCH_ORDER[_kind(ranked[0]["name"])]
    ids, offsets, row_map = (ranked[0]["contents"][i].astype(np.int64).reshape(-1) for i in at)
    problems = []
    for e in range(len(offsets) - 1):
        slots = np.flatnonzero(ids == e)
        kept = slots[row_map[slots] >= 0]
        if len(kept) != offsets[e + 1] - offsets[e]:
            problems.append(f"expert {e}: {len(kept)} slots kept, "
                            f"{offsets[e + 1] - offsets[e]} rows")
        elif (row_map[kept] != offsets[e] + np.arange(len(kept))).any():
            problems.append(f"expert {e}: rows not in token-then-slot order")
        elif not (by_weight or per_sequence) and (kept != slots[:len(kept)]).any():
            problems.append(f"expert {e}: in_order keeps other than its first slots")
    if (row_map[ids < 0] != -1).any():
        problems.append("skipped slots (id -1) got rows")
    return problems[:4]


def _tensor_type(ty):
    """(shape, element type) of a tensor type's text, -1 for dynamic sizes."""
    shape, elt, _ = kernel.parse_memref_type(ty.replace("tensor<", "memref<"))
    return shape, elt


def _shape(ty):
    return ty if ty == "index" else _tensor_type(ty)[0]


def _matching(f32_args, args, values):
    """The values of the layer's arguments `args` for the same layer in f32
    (`f32_args`), in order: the 16-bit layer takes the hidden state twice
    (the router's f32 input and the rows), the f32 one once."""
    matched, j = [], 0
    for _, ty in f32_args:
        while j < len(args) and _shape(args[j][1]) != _shape(ty):
            j += 1
        if j == len(args):
            raise RuntimeError(f"no argument of the layer matches {ty}: {args}")
        value = values[j]
        matched.append(value.astype(np.float32)
                       if getattr(value, "dtype", None) in (kernel.BF16, np.float16) else value)
        j += 1
    return matched


def run(model, options, tokens, workdir, seed=0, index_values=(), mutate=None, entry=False,
        **prepare):
    """Runs the first GPU layer of `model` through the GPU lowering in the
    emulator and, on the same values, the layer prepared in the model's f32
    through the CPU lowering, the reference. {"error": max |GPU - f32| over
    max |f32|, "problems": what the
    emulator reported, result elements not written exactly once (where a
    combine kernel writes them), rows out of the dispatch's order,
    "kernels": the kernels launched}. `index_values` are the layer's index
    arguments (Switch's sequence length, which groups the dispatch per
    sequence); `entry`: through the layer's C entry (run_entry); `prepare`:
    Layer's element, passes and prepare."""
    layer = Layer(model, workdir, **prepare)
    values = layer.inputs(tokens, np.random.default_rng(seed), index_values)
    f32_dir = os.path.join(workdir, "f32")
    os.makedirs(f32_dir, exist_ok=True)
    f32_layer = Layer(model, f32_dir, **{**prepare, "element": ""})
    f32_values = _matching(f32_layer.args, layer.args, values)
    expected = f32_layer.run_cpu(f32_values, f32_dir).astype(np.float64)
    got, problems, launches, buffers = (layer.run_entry if entry else layer.run_gpu)(
        values, options, workdir, mutate)
    got = got.astype(np.float64)
    if "combine=epilogue" not in options:
        # A combine kernel writes each element once (the epilogue adds into
        # a zeroed result instead).
        written = buffers.writes.get(launches[-1]["result"])
        if written is None or (written.reshape(got.size, -1) != 1).any():
            problems = problems + ["result elements not written exactly once"]
    problems = problems + dispatch_order_problems(launches, bool(index_values))
    scale = max(float(np.max(np.abs(expected))), 1e-6)
    return {"error": float(np.max(np.abs(got - expected))) / scale,
            "problems": problems, "kernels": [l["name"] for l in launches[:-1]]}
