"""A small onnx.helper graph builder shared by the test model generators."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


class GraphBuilder:
    """Collects nodes and initializers; `save` writes a model with one float
    input x [T, hidden] and one output y (by default of the same shape)."""

    def __init__(self, seed=0):
        self.nodes, self.inits = [], {}
        self.rng = np.random.default_rng(seed)

    def rand(self, *shape):
        return self.rng.standard_normal(shape).astype(np.float32)

    def const(self, name, value):
        self.inits[name] = np.asarray(value)
        return name

    def node(self, op, ins, outs, **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def fill(self, shape, name, value):
        """ConstantOfShape(shape) holding the float `value`."""
        return self.node("ConstantOfShape", [shape], [name],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [value]))

    def save(self, name, hidden, out_elem=TensorProto.FLOAT, out_dims=None):
        """Output y is `out_dims` (default [T, hidden]) of `out_elem`."""
        io = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", hidden]),
              helper.make_tensor_value_info("y", out_elem, out_dims or ["T", hidden])]
        graph = helper.make_graph(
            self.nodes, name, io[:1], io[1:],
            initializer=[numpy_helper.from_array(v, n) for n, v in self.inits.items()])
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
             name + ".onnx")
