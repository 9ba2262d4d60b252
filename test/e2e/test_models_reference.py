"""The committed real ONNX MoE test models (test/models, exported from
PyTorch by `python -m moe_opt.models.generate`) still run in onnxruntime and
reproduce the saved torch outputs, and the moe dialect's numpy reference
(route -> dispatch -> experts -> combine) reproduces the MoE models from
their weights with the attributes the manifest records. No torch needed."""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from moe_opt.models import numpy_check

MODELS = os.path.join(os.path.dirname(__file__), "..", "models")
with open(os.path.join(MODELS, "MANIFEST.json")) as _f:
    MANIFEST = json.load(_f)
ENTRIES = {e["name"]: e for e in MANIFEST["models"]}
EXPORTS = [(e["name"], tag) for e in MANIFEST["models"]
           for tag, rec in e.get("exports", {}).items() if rec.get("ok")]
TOL = dict(rtol=1e-5, atol=1e-5)


def cases(data):
    ids = sorted({int(k.split(".")[0][4:]) for k in data.files})
    for i in ids:
        prefix = f"case{i}."
        inputs = {k.split(".", 2)[2]: data[k] for k in data.files if k.startswith(prefix + "input.")}
        torch_out = {k.split(".", 2)[2]: data[k] for k in data.files if k.startswith(prefix + "torch.")}
        ort_out = {k.split(".", 2)[2]: data[k] for k in data.files if k.startswith(prefix + "ort.")}
        yield i, inputs, torch_out, ort_out


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def test_manifest_lists_every_style():
    styles = {e.get("style", "")[:2] for e in MANIFEST["models"] if e["source"] != "transformers"}
    assert {"a:", "b:", "c:", "d:", "e:", "f:", "g:", "h:", "i:"} <= styles
    negatives = [e for e in MANIFEST["models"] if e.get("family") == "negative"]
    assert len(negatives) >= 3 and not any(e["must_raise"] for e in negatives)
    assert all(e["must_raise"] for e in MANIFEST["models"] if e.get("family") != "negative")
    committed = {f for e in MANIFEST["models"] for r in e.get("exports", {}).values()
                 if r.get("ok") for f in (r["file"], r["data"])}
    on_disk = {f for f in os.listdir(MODELS) if f.endswith((".onnx", ".npz"))
               and not f.endswith(".params.npz")}
    assert committed == on_disk


@pytest.mark.parametrize("name,tag", EXPORTS, ids=[f"{n}.{t}" for n, t in EXPORTS])
def test_onnxruntime_matches_saved_reference(name, tag):
    rec = ENTRIES[name]["exports"][tag]
    path = os.path.join(MODELS, rec["file"])
    model = onnx.load(path, load_external_data=False)
    # Weights live in the file: no external data, and the file stays small.
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert os.path.getsize(path) < 1 << 20
    opset = {i.domain or "ai.onnx": i.version for i in model.opset_import}["ai.onnx"]
    assert opset == rec["opset"]
    sess = session(path)
    data = np.load(os.path.join(MODELS, rec["data"]))
    n = 0
    for i, inputs, torch_out, ort_out in cases(data):
        outs = sess.run(None, inputs)
        names = [o.name for o in sess.get_outputs()]
        for out_name, got in zip(names, outs):
            np.testing.assert_allclose(got, ort_out[out_name], **TOL, err_msg=f"case {i} vs saved ort")
            np.testing.assert_allclose(got, torch_out[out_name], **TOL, err_msg=f"case {i} vs torch")
        n += 1
    assert n == len(rec["cases_ok"]) >= 1


REF_MODELS = sorted(n for n, e in ENTRIES.items()
                    if e.get("params") and numpy_check.supported(e))


@pytest.mark.parametrize("name", REF_MODELS)
def test_numpy_reference_reproduces_model(name):
    entry = ENTRIES[name]
    params = dict(np.load(os.path.join(MODELS, entry["params"])))
    checked = 0
    for tag, rec in entry["exports"].items():
        if not rec.get("ok"):
            continue
        data = np.load(os.path.join(MODELS, rec["data"]))
        for i, inputs, torch_out, _ in cases(data):
            x = inputs["hidden_states"]
            expected = torch_out["y"]
            got = numpy_check.reference_output(entry, params, x)
            # fp64 reference against fp32 torch.
            np.testing.assert_allclose(got, expected, rtol=1e-4,
                                       atol=1e-5 * max(1.0, np.abs(expected).max()),
                                       err_msg=f"{tag} case {i}")
            checked += 1
    assert checked >= 1


def test_reference_covers_required_styles():
    for name in ("mixtral_loop", "qwen2_moe_loop", "deepseek_v3_stacked", "gpt_oss_gathered"):
        assert name in REF_MODELS
