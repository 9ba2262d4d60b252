# Writes the seed_*.onnx files of the fuzz corpus (run from the repo root):
#   .venv/bin/python test/fuzz/gen_seeds.py test/fuzz/corpus
# Small models that reach every branch of the tensor, attribute and external
# data import; the other seeds are copies of test inputs.
import numpy as np, onnx, sys
from onnx import helper as h, TensorProto as T, numpy_helper as nh
out = sys.argv[1]
def save(name, nodes, inits, inputs=None, outputs=None, vi=()):
    g = h.make_graph(nodes, name, inputs or [h.make_tensor_value_info("x", T.FLOAT, ["batch", 4])],
                     outputs or [h.make_tensor_value_info("y", T.FLOAT, None)], inits, value_info=list(vi))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)], ir_version=8)
    open(f"{out}/seed_{name}.onnx", "wb").write(m.SerializeToString())
# Typed-field initializers of every supported dtype.
inits = [
  h.make_tensor("f32", T.FLOAT, [2], [1.0, 2.0]),
  h.make_tensor("f64", T.DOUBLE, [2], [1.0, 2.0]),
  h.make_tensor("f16", T.FLOAT16, [2], np.array([1, 2], np.float16)),
  h.make_tensor("bf16", T.BFLOAT16, [2], [1.0, 2.0]),
  h.make_tensor("b", T.BOOL, [3], [True, False, True]),
  h.make_tensor("i8", T.INT8, [2], [-1, 2]),
  h.make_tensor("u8", T.UINT8, [2], [1, 255]),
  h.make_tensor("i16", T.INT16, [2], [-1, 2]),
  h.make_tensor("u16", T.UINT16, [2], [1, 2]),
  h.make_tensor("i32", T.INT32, [2], [-1, 2]),
  h.make_tensor("u32", T.UINT32, [2], [1, 2]),
  h.make_tensor("i64", T.INT64, [2], [-1, 2]),
  h.make_tensor("u64", T.UINT64, [2], [1, 2]),
  h.make_tensor("empty", T.FLOAT, [0, 3], []),
  h.make_tensor("scalar", T.INT64, [], [7]),
]
save("typed", [h.make_node("Relu", ["x"], ["y"])], inits)
# The same as raw_data.
raw = [nh.from_array((np.arange(6) % 2).astype(dt).reshape(2, 3), f"r_{np.dtype(dt).name}")
       for dt in (np.float32, np.float64, np.float16, np.int8, np.uint8, np.int16, np.uint16,
                  np.int32, np.uint32, np.int64, np.uint64, np.bool_)]
save("raw", [h.make_node("Relu", ["x"], ["y"])], raw)
# Constant nodes in every form, including small bool and large tensors.
nodes = [
  h.make_node("Constant", [], ["c_t"], value=nh.from_array(np.array([True, False]))),
  h.make_node("Constant", [], ["c_big"], value=nh.from_array(np.zeros(300, np.float32))),
  h.make_node("Constant", [], ["c_f"], value_float=0.5),
  h.make_node("Constant", [], ["c_i"], value_int=3),
  h.make_node("Constant", [], ["c_fs"], value_floats=[1.0, 2.0]),
  h.make_node("Constant", [], ["c_is"], value_ints=[1, 2]),
  h.make_node("Constant", [], ["c_s"], value_string="s"),
  h.make_node("Constant", [], ["c_ss"], value_strings=["a", "b"]),
  h.make_node("Relu", ["x"], ["y"]),
]
save("constants", nodes, [])
# Attributes of every kind on a custom node.
sub = h.make_graph([h.make_node("Relu", ["x"], ["z"])], "sub", [], [h.make_tensor_value_info("z", T.FLOAT, [4])])
sparse = h.make_sparse_tensor(h.make_tensor("v", T.FLOAT, [1], [1.0]), h.make_tensor("i", T.INT64, [1], [0]), [4])
node = h.make_node("Custom", ["x", ""], ["y", ""], domain="com.microsoft",
  f=1.0, i=2, s="s", t=h.make_tensor("t", T.INT32, [2], [1, 2]), fs=[1.0], is_=[1], ss=["a"],
  ts=[h.make_tensor("t1", T.FLOAT, [1], [1.0]), h.make_tensor("", T.BOOL, [1], [True])],
  tp=h.make_tensor_type_proto(T.FLOAT, ["n", 3]), tps=[h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, [1]))],
  g=sub, sp=sparse)
save("attributes", [node], [],
     vi=[h.make_tensor_value_info("y", T.FLOAT16, [None, "s", 2])])
# External data in every shape the importer must reject or resolve.
def ext(name, loc, extra=()):
    t = T(); t.name = name; t.data_type = T.FLOAT; t.dims.extend([2, 3])
    t.data_location = T.EXTERNAL
    for k, v in [("location", loc), *extra]:
        e = t.external_data.add(); e.key = k; e.value = v
    return t
save("external", [h.make_node("Relu", ["x"], ["y"])],
     [ext("a", "w.bin", [("offset", "0"), ("length", "24")]), ext("b", "."), ext("c", "sub/../w.bin"),
      ext("d", "", [("checksum", "x")])])
# Graph inputs with other types and an initializer that is also an input (IR < 4).
save("types", [h.make_node("Identity", ["w"], ["y"])], [h.make_tensor("w", T.FLOAT, [1], [1.0])],
     inputs=[h.make_tensor_value_info("w", T.FLOAT, [1]),
             h.make_tensor_value_info("x", T.INT64, ["n", None, 0]),
             h.make_tensor_value_info("u", T.FLOAT, None)],
     outputs=[h.make_tensor_value_info("y", T.FLOAT, [1])])
node2 = h.make_node("Custom", ["x", ""], ["y", ""], domain="com.microsoft",
  f=1.0, i=2, s="s", t=h.make_tensor("t", T.INT32, [2], [1, 2]), fs=[1.0], is_=[1], ss=["a"],
  ts=[h.make_tensor("t1", T.FLOAT, [1], [1.0]), h.make_tensor("", T.BOOL, [1], [True])],
  tp=h.make_tensor_type_proto(T.FLOAT, ["n", 3]), tps=[h.make_tensor_type_proto(T.INT8, [1])])
save("attributes2", [node2], [], vi=[h.make_tensor_value_info("y", T.FLOAT16, [None, "s", 2])])
