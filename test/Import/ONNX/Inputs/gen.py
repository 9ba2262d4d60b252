#!/usr/bin/env python3
"""Writes the binary ONNX inputs of the importer's lit tests.

The generated files are committed, so CI needs neither this script nor the
onnx package; rerun it (python3 gen.py, with onnx and numpy installed) after
changing it. Every file is tiny and deterministic.
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def save(model, name, check=True):
    if check:
        onnx.checker.check_model(model)
    with open(path(name), "wb") as f:
        f.write(model.SerializeToString())


def make_model(graph, opset=17):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="moe-opt-tests",
        producer_version="1",
    )
    # Readable by onnx 1.12 (Debian) as well as recent onnx.
    model.ir_version = 8
    return model


def router_model():
    """A tiny MoE router: logits = x @ W, weights = TopK(Softmax(logits)).

    The initializers use raw_data (the path the importer maps in place), in
    several element types.
    """
    w = numpy_helper.from_array(
        np.arange(8, dtype=np.float32).reshape(4, 2) / 8, "router.weight")
    k = numpy_helper.from_array(np.array([1], dtype=np.int64), "k")
    f16 = numpy_helper.from_array(
        np.array([1.0, -2.0], dtype=np.float16), "scale.f16")
    mask = numpy_helper.from_array(np.array([True, False]), "mask")
    u8 = numpy_helper.from_array(np.array([1, 255], dtype=np.uint8), "u8")
    nodes = [
        helper.make_node("MatMul", ["x", "router.weight"], ["logits"],
                         name="router/MatMul"),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=-1,
                         name="router/Softmax"),
        helper.make_node("TopK", ["scores", "k"], ["weights", "experts"],
                         axis=-1, largest=1, sorted=1, name="router/TopK"),
    ]
    graph = helper.make_graph(
        nodes,
        "router",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                       ["tokens", 4])],
        [
            helper.make_tensor_value_info("weights", TensorProto.FLOAT,
                                          ["tokens", 1]),
            helper.make_tensor_value_info("experts", TensorProto.INT64,
                                          ["tokens", 1]),
        ],
        initializer=[w, k, f16, mask, u8],
        value_info=[
            helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                          ["tokens", 2]),
        ],
    )
    return make_model(graph)


def identity_model(initializer, out_type, out_shape):
    """Returns the initializer `w` as the graph output."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"], name="id")], "g", [],
        [helper.make_tensor_value_info("y", out_type, out_shape)],
        initializer=[initializer])
    return make_model(graph)


def external(tensor, location, offset, length):
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset),
                       ("length", length)):
        if value is not None:
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    return tensor


def external_models():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    # 16 bytes of padding before the tensor, as onnx aligns its offsets.
    with open(path("external.bin"), "wb") as f:
        f.write(b"\0" * 16 + data.tobytes())
    with open(path("external_short.bin"), "wb") as f:
        f.write(data.tobytes()[:20])

    def model(location, offset, length):
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3])
        return identity_model(external(w, location, offset, length),
                              TensorProto.FLOAT, [2, 3])

    save(model("external.bin", 16, 24), "external.onnx")
    save(model("missing.bin", 0, 24), "external_missing.onnx", check=False)
    save(model("external_short.bin", 0, 24), "external_short.onnx",
         check=False)
    save(model("external.bin", 16, 20), "external_length.onnx", check=False)
    save(model("../external.bin", 0, 24), "external_escape.onnx",
         check=False)


def bad_models():
    # raw_data of 3 floats for a [2, 3] tensor.
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3],
                    raw_data=np.zeros(3, dtype=np.float32).tobytes())
    save(identity_model(w, TensorProto.FLOAT, [2, 3]), "raw_data_size.onnx",
         check=False)

    # A data type that no ONNX version defines.
    w = TensorProto(name="w", data_type=99, dims=[1], raw_data=b"\0")
    save(identity_model(w, TensorProto.FLOAT, [1]), "unknown_dtype.onnx",
         check=False)

    # A data type ONNX defines but the importer does not support yet.
    w = TensorProto(name="w", data_type=TensorProto.COMPLEX64, dims=[1],
                    raw_data=b"\0" * 8)
    save(identity_model(w, TensorProto.FLOAT, [1]), "complex_dtype.onnx",
         check=False)

    # Truncated in the middle of the router weights.
    good = router_model().SerializeToString()
    with open(path("truncated.onnx"), "wb") as f:
        f.write(good[: len(good) // 2])

    # Not protobuf at all (fixed seed: the error message is stable).
    rng = np.random.default_rng(1)
    with open(path("random.onnx"), "wb") as f:
        f.write(rng.integers(0, 256, 256, dtype=np.uint8).tobytes())

    # A valid protobuf of the wrong message type.
    with open(path("tensor_not_model.onnx"), "wb") as f:
        f.write(numpy_helper.from_array(
            np.ones(4, dtype=np.float32), "t").SerializeToString())


def large_model():
    """One 16 KiB initializer: printing elides it unless asked not to."""
    w = numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "w")
    return identity_model(w, TensorProto.FLOAT, [64, 64])


def main():
    save(router_model(), "router.onnx")
    save(large_model(), "large.onnx")
    external_models()
    bad_models()


if __name__ == "__main__":
    main()
