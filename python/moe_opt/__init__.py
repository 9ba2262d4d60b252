"""Python side of moe-opt: the numpy reference of the moe dialect, model
builders and the onnxruntime oracle."""
