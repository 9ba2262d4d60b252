"""The emulator's kernel translation (gpu_emulator/compiler.py) writes the
common scalar ops as Python expressions instead of calling their EXEC
entries (kernel.py); each expression must give what the entry gives, value
and type, on the values that matter (zero, one, the sign bit, all ones,
shifts past the width)."""
import itertools

import numpy as np
import pytest

pytest.importorskip("ml_dtypes")

from gpu_emulator import compiler  # noqa: E402
from gpu_emulator.kernel import BF16, EXEC, parse_line, set_sig  # noqa: E402


def op(line):
    o = parse_line(line)
    set_sig(o, line)
    return o


def int_samples(width):
    mask, sign = (1 << width) - 1, 1 << (width - 1)
    return sorted(x for x in {0, 1, 2, 3, width, width + 1, sign - 1, sign, sign + 1,
                              mask - 1, mask, 0x5A5A5A5A5A5A5A5A & mask} if x <= mask)


def same(got, want):
    if isinstance(want, np.ndarray):
        return isinstance(got, np.ndarray) and got.dtype == want.dtype and \
            np.array_equal(got, want, equal_nan=True)
    if type(got) is not type(want):
        return False
    if isinstance(want, np.generic):  # numpy and ml_dtypes scalars: their bits
        return got.tobytes() == want.tobytes()
    return got == want


def check(o, cases):
    """Each operand tuple in `cases` through the expression and the entry."""
    w = compiler.Writer()
    names = [f"a{i}" for i in range(len(o.operands))]
    expr = compiler.inline(w, o, names)
    assert expr is not None, o.line
    namespace = dict(w.objects, np=np, th=None)
    for values in cases:
        want = EXEC[o.name](None, o, list(values))
        got = eval(expr, namespace, dict(zip(names, values)))
        assert same(got, want), (o.line, values, got, want)


BINARY = ["arith.addi", "arith.subi", "arith.muli", "arith.andi", "arith.ori", "arith.xori",
          "arith.divui", "arith.remui", "arith.shrui", "arith.shli", "llvm.add", "llvm.sub",
          "llvm.mul", "llvm.and", "llvm.or", "llvm.udiv", "llvm.lshr", "llvm.shl"]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("ty,width", [("i1", 1), ("i8", 8), ("i32", 32), ("index", 64)])
def test_integer_binary(name, ty, width):
    o = op(f'%r = "{name}"(%a, %b) : ({ty}, {ty}) -> {ty}')
    pairs = itertools.product(int_samples(width), repeat=2)
    if "div" in name or "rem" in name:
        pairs = [(a, b) for a, b in pairs if b]
    check(o, pairs)


@pytest.mark.parametrize("predicate", range(10))
@pytest.mark.parametrize("name,ty,width", [("arith.cmpi", "i32", 32), ("arith.cmpi", "index", 64),
                                           ("llvm.icmp", "i8", 8), ("arith.cmpi", "i1", 1)])
def test_integer_compare(predicate, name, ty, width):
    o = op(f'%r = "{name}"(%a, %b) <{{predicate = {predicate} : i64}}> : ({ty}, {ty}) -> i1')
    check(o, itertools.product(int_samples(width), repeat=2))


@pytest.mark.parametrize("name,source,result", [
    ("arith.extsi", "i8", "i32"), ("arith.extui", "i8", "i32"), ("arith.trunci", "i64", "i16"),
    ("arith.index_cast", "i32", "index"), ("arith.index_cast", "index", "i32"),
    ("arith.index_castui", "i32", "index"), ("llvm.sext", "i1", "i32"),
    ("llvm.zext", "i16", "i64"), ("llvm.trunc", "i32", "i8")])
def test_integer_cast(name, source, result):
    o = op(f'%r = "{name}"(%a) : ({source}) -> {result}')
    width = 64 if source == "index" else int(source[1:])
    check(o, [(a,) for a in int_samples(width)])


FLOAT_VALUES = [np.float32(x) for x in (0.0, -0.0, 1.5, -3.25, 1e30, np.inf, -np.inf, np.nan)]


@pytest.mark.parametrize("name", sorted(compiler.FLOAT_OPERATORS))
def test_float_binary(name):
    o = op(f'%r = "{name}"(%a, %b) : (f32, f32) -> f32')
    with np.errstate(all="ignore"):
        check(o, itertools.product(FLOAT_VALUES, repeat=2))
        vectors = np.array(FLOAT_VALUES, np.float32)
        check(op(f'%r = "{name}"(%a, %b) : (vector<8xf32>, vector<8xf32>) -> vector<8xf32>'),
              [(vectors, vectors[::-1].copy())])


def test_negf_and_select():
    check(op('%r = "arith.negf"(%a) : (f32) -> f32'), [(x,) for x in FLOAT_VALUES])
    check(op('%r = "arith.select"(%c, %a, %b) : (i1, i32, i32) -> i32'),
          [(c, 7, 9) for c in (0, 1)])


@pytest.mark.parametrize("source,result,values", [
    ("i32", "f32", [0, 1, 0x3F800000, 0x7FC00000, 0xFFFFFFFF]),
    ("f32", "i32", FLOAT_VALUES),
    ("i32", "vector<2xbf16>", [0, 0x3F803F80, 0xFFFF0001]),
    ("i16", "bf16", [0, 0x3F80, 0xFFFF])])
def test_bitcast(source, result, values):
    check(op(f'%r = "llvm.bitcast"(%a) : ({source}) -> {result}'), [(v,) for v in values])


def test_extracts():
    check(op('%r = "vector.extract"(%v) <{static_position = array<i64: 1>}> : '
             '(vector<4xf32>) -> f32'), [(np.arange(4, dtype=np.float32),)])
    check(op('%r = "vector.extract"(%v) <{static_position = array<i64: 3>}> : '
             '(vector<4xi32>) -> i32'), [(np.arange(4, dtype=np.uint32),)])
    check(op('%r = "vector.extract"(%v) <{static_position = array<i64: 0>}> : '
             '(vector<2xbf16>) -> bf16'), [(np.array([1.5, 2], BF16),)])
    check(op('%r = "llvm.extractvalue"(%s) <{position = array<i64: 1>}> : '
             '(!llvm.struct<(i32, f32)>) -> f32'), [([3, np.float32(2.5)],)])


def test_conversion_cast():
    check(op('%r = "builtin.unrealized_conversion_cast"(%a) : (index) -> i64'), [(5,)])
    check(op('%r = "builtin.unrealized_conversion_cast"(%a) : (vector<2xf32>) -> '
             '!llvm.array<2 x f32>'), [(np.array([1, 2], np.float32),)])


def test_constants():
    check(op('%r = "arith.constant"() <{value = 4294967295 : i32}> : () -> i32'), [()])
    check(op('%r = "arith.constant"() <{value = -1.250000e+00 : f32}> : () -> f32'), [()])
    check(op('%r = "arith.constant"() <{value = dense<[1.0, 2.0]> : vector<2xbf16>}> : '
             '() -> vector<2xbf16>'), [()])
