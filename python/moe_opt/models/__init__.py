"""Committed real ONNX MoE test models (test/models) and their generator.

`python -m moe_opt.models.generate --out test/models` needs torch (see
requirements-generate.txt); `moe_opt.models.numpy_check` needs only numpy.
"""
