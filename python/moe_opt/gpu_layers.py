"""Calling the GPU layers of a model prepared by moe-opt.

`moe-opt model.onnx ... --moe-prepare-gpu-layers=report=layers.json` outlines
every MoE layer into a `moe.gpu_layer` function and writes, per layer, what
each of its buffers is (docs/GPU.md); `moe-gpu-aot` compiles the functions
into a library with one `moe_layer_forward` entry per layer
(include/moe-c/GPU.h). This module turns a report entry into the layer's
buffers, from the model's initializers and its inputs (or, for values the
model computes before the layer, onnxruntime's value of that name), and
calls a layer of the library on device pointers:

    report = gpu_layers.load_report("layers.json")
    data = gpu_layers.ModelData("model.onnx")
    buffers = gpu_layers.layer_buffers(report[0], data, {"hidden_states": x})
    lib = gpu_layers.GPULayers("layers.so")
    lib.forward(report[0]["layer"], device_buffers + [device_out], stream)

The buffers are numpy arrays in the layer's types (bf16 as ml_dtypes'
bfloat16); device_buffers are their copies on the GPU (anything with a
`data_ptr()` or numpy's `ctypes.data`).
"""

import ctypes
import json

import ml_dtypes
import numpy as np

DTYPES = {
    "f64": np.float64, "f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16,
    "i64": np.int64, "i32": np.int32, "i16": np.int16, "i8": np.int8,
}


def load_report(path):
    """The layers of a --moe-prepare-gpu-layers report, in order."""
    with open(path) as f:
        return json.load(f)["layers"]


class ModelData:
    """The initializers of an ONNX model, and its intermediate values by
    name through onnxruntime."""

    def __init__(self, path):
        import onnx
        from onnx import numpy_helper
        self.path = path
        self.model = onnx.load(path)
        self.initializers = {i.name: numpy_helper.to_array(i)
                             for i in self.model.graph.initializer}

    def values(self, names, feeds):
        """{name: array} of the model's values `names` for the inputs `feeds`
        (onnxruntime on the CPU, with the values added as graph outputs)."""
        import onnx
        import onnxruntime as ort
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        known = {o.name for o in model.graph.output}
        for name in names:
            if name not in known:
                model.graph.output.append(onnx.ValueInfoProto(name=name))
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        outputs = session.run(list(names), feeds)
        return dict(zip(names, outputs))


def _source(source, data, feeds, computed):
    kind = source["kind"]
    if kind == "argument":
        name = source.get("name")
        if name in feeds:
            return feeds[name]
        raise KeyError(f"no input named {name!r} (argument {source['index']} of the caller)")
    if kind == "constant" and "value" in source:
        return source["value"]
    if kind == "dim":
        # An index argument: a dimension of another value (the sequence
        # length of Switch's per-sequence capacity).
        return np.shape(_source(source["of"], data, feeds, computed))[source["dim"]]
    if kind == "constant":
        resource = source.get("resource")
        if resource not in data.initializers:
            raise KeyError(f"no initializer named {resource!r}")
        return data.initializers[resource]
    if kind == "stacked":
        return np.stack([_source(p, data, feeds, computed) for p in source["parts"]])
    if kind == "padded":
        # Heterogeneous experts, widths rounded up to multiples of 8: each
        # piece's block placed in a tensor of zeros (or of `fill`).
        pieces = [(np.asarray(_source(p["source"], data, feeds, computed)), p)
                  for p in source["pieces"]]
        out = np.full(source["shape"], source.get("fill", 0), pieces[0][0].dtype)
        for part, p in pieces:
            block = part[tuple(slice(f, f + n) for f, n in zip(p["from"], p["size"]))]
            at = p["to"][:out.ndim - block.ndim] + [
                slice(t, t + n) for t, n in zip(p["to"][out.ndim - block.ndim:], p["size"])]
            out[tuple(at)] = block
        return out
    if kind == "dequantized":
        # QMoE: the caller dequantizes the packed weights once (moe.dequantize).
        from moe_opt import reference

        def read(key):
            return np.asarray(_source(source[key], data, feeds, computed))
        return reference.dequantize(
            read("weight"), read("scales"),
            read("zero_points") if "zero_points" in source else None,
            bits=source["bits"], block_size=source.get("block_size"),
            columns=source["columns"])
    if kind == "value" and "name" in source:
        return computed[source["name"]]
    raise ValueError(f"the layer reads a value the caller computes with {source.get('op')} "
                     "and no ONNX name: compute it yourself")


def _computed_names(source):
    """The ONNX names of the values the caller computes that `source` reads."""
    if source["kind"] == "value" and "name" in source:
        return [source["name"]]
    nested = (source.get("parts", []) + [p["source"] for p in source.get("pieces", [])]
              + [source[k] for k in ("weight", "scales", "zero_points", "of") if k in source])
    return [n for s in nested for n in _computed_names(s)]


def layer_buffers(layer, data, feeds):
    """The layer's input buffers (numpy, in the layer's types and layout) for
    the model inputs `feeds` ({ONNX input name: array})."""
    names = sorted({n for b in layer["buffers"] for n in _computed_names(b["source"])})
    computed = data.values(names, feeds) if names else {}
    buffers = []
    for i, b in enumerate(layer["buffers"]):
        if b["element_type"] == "index":
            buffers.append(int(_source(b["source"], data, feeds, computed)))
            continue
        a = np.asarray(_source(b["source"], data, feeds, computed))
        if b["transposed"]:
            a = np.swapaxes(a, -1, -2)
        a = np.ascontiguousarray(a.astype(DTYPES[b["element_type"]]))
        expected = b["shape"]
        if a.ndim != len(expected) or any(e is not None and e != d
                                          for e, d in zip(expected, a.shape)):
            raise ValueError(f"buffer {i}: shape {list(a.shape)}, the layer takes {expected}")
        buffers.append(a)
    return buffers


def dims(layer, buffers):
    """moe_layer_forward's `dims`: in argument order, the leading size of
    each buffer whose leading dimension is dynamic and each index value."""
    return [int(buf) if b["element_type"] == "index" else int(buf.shape[0])
            for b, buf in zip(layer["buffers"], buffers)
            if b["element_type"] == "index" or b["shape"][0] is None]


def _pointer(buffer):
    if hasattr(buffer, "data_ptr"):
        return buffer.data_ptr()
    return buffer.ctypes.data


class GPULayers:
    """The layer entries of a library made by moe-gpu-aot, through ctypes."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        i64p, ptr = ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p
        lib.moe_layer_find.argtypes = [ctypes.c_char_p]
        lib.moe_layer_workspace_size.argtypes = [ctypes.c_int, i64p]
        lib.moe_layer_workspace_size.restype = ctypes.c_int64
        lib.moe_layer_forward.argtypes = [ctypes.c_int, ctypes.POINTER(ptr), i64p, ptr, ptr]
        lib.moe_gpu_last_error.restype = ctypes.c_char_p
        self.lib = lib

    def find(self, name):
        index = self.lib.moe_layer_find(name.encode())
        if index < 0:
            raise KeyError(f"no layer {name} in the library")
        return index

    def workspace_size(self, name, leading):
        """Bytes of workspace the layer needs for these leading sizes."""
        sizes = (ctypes.c_int64 * max(len(leading), 1))(*leading)
        return self.lib.moe_layer_workspace_size(self.find(name), sizes)

    def forward(self, name, buffers, leading, workspace, stream=None):
        """Queues the layer on `stream` (a CUstream, None: the default one):
        `buffers` are the device inputs in report order, then the output;
        `workspace` a device pointer (or buffer) of workspace_size bytes.
        Raises RuntimeError with the library's message on failure."""
        index = self.find(name)
        # Index arguments travel in `leading`, not as buffers.
        buffers = [b for b in buffers if not isinstance(b, int)]
        ptrs = (ctypes.c_void_p * len(buffers))(*[_pointer(b) for b in buffers])
        sizes = (ctypes.c_int64 * max(len(leading), 1))(*leading)
        if not isinstance(workspace, int):
            workspace = _pointer(workspace)
        code = self.lib.moe_layer_forward(index, ptrs, sizes, workspace, stream)
        if code != 0:
            raise RuntimeError(f"moe_layer_forward({name}) returned {code}: "
                               f"{self.lib.moe_gpu_last_error().decode()}")
