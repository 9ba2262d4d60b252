"""Every checked-in .onnx model imports and shape-infers with moe-opt.

For each model, `moe-opt FILE --onnx-infer-shapes` runs once and must exit 0
with nothing on stderr; the printed `func.func` signature must match the
ONNX graph's inputs (initializers excluded) and outputs: element type, shape
(dynamic dims as ?), and the onnx.name / onnx.dim_params attributes.

How many onnx.node results are still !onnx.unknown after inference is
reported, not asserted: test_untyped_summary prints a table per model and
per op type (run with -s, or read it in the report of a failure).
"""

import collections
import functools
import glob
import os
import re
import subprocess

import pytest

onnx = pytest.importorskip("onnx")

from moe_run import BUILD_DIR  # noqa: E402

MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")
if not os.path.exists(MOE_OPT):
    pytest.skip(f"{MOE_OPT} not built", allow_module_level=True)

TEST = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))

# Inputs of lit tests that are invalid on purpose: moe-opt must reject them,
# and does so elsewhere (test/Import/ONNX/*.test, test/Conversion/ONNXToMoE).
INVALID = {
    "Import/ONNX/Inputs/complex_dtype.onnx",
    "Import/ONNX/Inputs/external_escape.onnx",
    "Import/ONNX/Inputs/external_length.onnx",
    "Import/ONNX/Inputs/external_missing.onnx",
    "Import/ONNX/Inputs/external_short.onnx",
    "Import/ONNX/Inputs/random.onnx",
    "Import/ONNX/Inputs/raw_data_size.onnx",
    "Import/ONNX/Inputs/tensor_not_model.onnx",
    "Import/ONNX/Inputs/truncated.onnx",
    "Import/ONNX/Inputs/unknown_dtype.onnx",
    "Conversion/ONNXToMoE/Inputs/k_too_large.onnx",  # k = 5 of 4 experts
    "Conversion/ONNXToMoE/Inputs/qmoe_3bit.onnx",  # ORT has no 3-bit QMoE
}

MODELS = sorted(
    os.path.relpath(p, TEST)
    for d in ("models", "Import/ONNX/Inputs", "Conversion/ONNXToMoE/Inputs")
    for p in glob.glob(os.path.join(TEST, d, "*.onnx")))
VALID = [m for m in MODELS if m not in INVALID]

ELEM = {
    onnx.TensorProto.FLOAT: "f32", onnx.TensorProto.DOUBLE: "f64",
    onnx.TensorProto.FLOAT16: "f16", onnx.TensorProto.BFLOAT16: "bf16",
    onnx.TensorProto.BOOL: "i1", onnx.TensorProto.INT8: "i8",
    onnx.TensorProto.INT16: "i16", onnx.TensorProto.INT32: "i32",
    onnx.TensorProto.INT64: "i64", onnx.TensorProto.UINT8: "ui8",
    onnx.TensorProto.UINT16: "ui16", onnx.TensorProto.UINT32: "ui32",
    onnx.TensorProto.UINT64: "ui64",
}

STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
CLOSE = {")": "(", "]": "[", "}": "{", ">": "<"}


def split_top(text, sep=","):
    """Splits text at `sep` outside brackets and string literals."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = STRING.match(text, i).end()
            continue
        if c in "([{<":
            depth += 1
        elif c in CLOSE and not (c == ">" and text[i - 1] == "-"):
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i].strip())
            start = i + len(sep)
        i += 1
    tail = text[start:].strip()
    return parts + [tail] if tail or parts else parts


def matching(text, open_at):
    """Index just past the bracket that closes text[open_at]."""
    depth, i = 0, open_at
    while i < len(text):
        c = text[i]
        if c == '"':
            i = STRING.match(text, i).end()
            continue
        if c in "([{<":
            depth += 1
        elif c in CLOSE and not (c == ">" and text[i - 1] == "-"):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced: {text[open_at:open_at + 200]}")


def parse_entry(entry):
    """'%arg0: TYPE {attrs}' or 'TYPE {attrs}' -> (type, {name, dim_params})."""
    if entry.startswith("%"):
        entry = entry.split(":", 1)[1].strip()
    attrs = {}
    brace = None
    depth = 0
    for i, c in enumerate(entry):  # the attribute dict is the first top-level '{'
        if c in "(<[":
            depth += 1
        elif c in ")>]" and not (c == ">" and entry[i - 1] == "-"):
            depth -= 1
        elif c == "{" and depth == 0:
            brace = i
            break
    type_text = entry if brace is None else entry[:brace].strip()
    if brace is not None:
        body = entry[brace + 1:matching(entry, brace) - 1]
        for item in split_top(body):
            key, _, value = item.partition("=")
            attrs[key.strip()] = value.strip()
    return type_text, attrs


def parse_signature(text):
    """The arguments and results of the first func.func as (type, attrs) lists."""
    start = text.index("func.func @")
    open_paren = text.index("(", start)
    close = matching(text, open_paren)
    args = [parse_entry(e) for e in split_top(text[open_paren + 1:close - 1])]
    rest = text[close:].lstrip()
    results = []
    if rest.startswith("->"):
        rest = rest[2:].lstrip()
        if rest.startswith("("):
            end = matching(rest, 0)
            results = [parse_entry(e) for e in split_top(rest[1:end - 1])]
        else:  # a single result without attributes
            results = [(rest.split()[0], {})]
    return args, results


def expected(value_info):
    """(MLIR type, onnx.name, onnx.dim_params or None) of a graph input/output."""
    t = value_info.type.tensor_type
    elem = ELEM[t.elem_type]
    if not t.HasField("shape"):
        return f"tensor<*x{elem}>", None
    dims = ["?" if not d.HasField("dim_value") else str(d.dim_value) for d in t.shape.dim]
    params = [d.dim_param for d in t.shape.dim]
    type_text = "tensor<" + "".join(d + "x" for d in dims) + elem + ">"
    return type_text, params if any(params) else None


def node_results(text):
    """(op type, operand types, result types) of every onnx.node in the output."""
    for line in text.splitlines():
        m = re.search(r'= onnx\.node "([^"]+)"', line)
        if not m:
            continue
        bare = STRING.sub('""', line)  # attribute strings may hold anything
        sig = bare[bare.rindex(" : (") + 3:]
        operands_end = matching(sig, 0)
        operands = split_top(sig[1:operands_end - 1])
        results = sig[operands_end:].strip()
        assert results.startswith("->"), line
        results = results[2:].strip()
        if results.startswith("("):
            results = split_top(results[1:matching(results, 0) - 1])
        else:
            results = [results]
        yield m.group(1), operands, results


@functools.lru_cache(maxsize=None)
def import_model(rel):
    """Runs moe-opt once per model: (returncode, stdout, stderr)."""
    proc = subprocess.run([MOE_OPT, os.path.join(TEST, rel), "--onnx-infer-shapes"],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


UNKNOWN = "!onnx.unknown"


def untyped(rel):
    """(results, unknown results, Counter of op types, Counter of first-untyped op
    types: nodes with typed operands but an unknown result)."""
    _, out, _ = import_model(rel)
    total = unknown = 0
    by_op, roots = collections.Counter(), collections.Counter()
    for op, operands, results in node_results(out):
        total += len(results)
        n = sum(r == UNKNOWN for r in results)
        unknown += n
        if n:
            by_op[op] += n
            if UNKNOWN not in operands:
                roots[op] += 1
    return total, unknown, by_op, roots


@pytest.mark.parametrize("rel", VALID)
def test_import_and_infer(rel):
    rc, out, err = import_model(rel)
    assert rc == 0, f"moe-opt {rel} --onnx-infer-shapes failed ({rc}):\n{err}"
    assert "error" not in err.lower(), err
    assert "func.func @" in out

    model = onnx.load(os.path.join(TEST, rel), load_external_data=False)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    args, results = parse_signature(out)

    for kind, declared, imported in (("input", inputs, args),
                                     ("output", list(graph.output), results)):
        assert len(imported) == len(declared), (
            f"{len(declared)} graph {kind}s but {len(imported)} in the signature")
        for value, (type_text, attrs) in zip(declared, imported):
            want_type, want_params = expected(value)
            assert type_text == want_type, f"{kind} '{value.name}': {type_text} != {want_type}"
            assert attrs.get("onnx.name") == f'"{value.name}"', (kind, value.name, attrs)
            if want_params is None:
                assert "onnx.dim_params" not in attrs, (kind, value.name, attrs)
            else:
                got = split_top(attrs["onnx.dim_params"].strip()[1:-1])
                assert got == [f'"{p}"' for p in want_params], (kind, value.name, got)


def test_invalid_inputs_are_rejected():
    """The lit inputs listed as invalid still fail (keeps INVALID honest)."""
    for rel in sorted(INVALID):
        if not os.path.exists(os.path.join(TEST, rel)):
            continue
        rc, _, err = import_model(rel)
        assert rc != 0 and "error" in err, f"{rel} is listed as invalid but imports"


def test_signature_parser():
    text = ('func.func @g(%arg0: tensor<?x4xf32> {onnx.dim_params = ["a, b", ""], '
            'onnx.name = "x,y"}, %arg1: tensor<*xi64> {onnx.name = "z"}) -> '
            '(tensor<f16> {onnx.name = "o"}) {')
    args, results = parse_signature(text)
    assert args == [("tensor<?x4xf32>", {"onnx.dim_params": '["a, b", ""]',
                                          "onnx.name": '"x,y"'}),
                    ("tensor<*xi64>", {"onnx.name": '"z"'})]
    assert results == [("tensor<f16>", {"onnx.name": '"o"'})]
    line = ('%3:2 = onnx.node "TopK"(%1, %2) attributes {equation = "a -> b"} : '
            '(tensor<?x4xf32>, !onnx.unknown) -> (tensor<?x2xf32>, !onnx.unknown)')
    assert list(node_results(line)) == [
        ("TopK", ["tensor<?x4xf32>", "!onnx.unknown"], ["tensor<?x2xf32>", "!onnx.unknown"])]


def test_untyped_summary(capsys):
    """Reports (never fails on) results left !onnx.unknown by --onnx-infer-shapes."""
    rows, by_op, roots = [], collections.Counter(), collections.Counter()
    for rel in VALID:
        if import_model(rel)[0] != 0:
            continue  # test_import_and_infer reports it
        total, unknown, ops, first = untyped(rel)
        by_op.update(ops)
        roots.update(first)
        if unknown:
            rows.append(f"  {rel}: {unknown}/{total} untyped "
                        f"({', '.join(f'{o} {n}' for o, n in ops.most_common())})")
    lines = [f"onnx.node results left !onnx.unknown after --onnx-infer-shapes: "
             f"{len(rows)} of {len(VALID)} models"] + rows
    if by_op:
        lines.append("  by op type: " + ", ".join(f"{o} {n}" for o, n in by_op.most_common()))
        lines.append("  first untyped (all operands typed): "
                     + ", ".join(f"{o} {n}" for o, n in roots.most_common()))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
