"""Translates a parsed gpu.func into one Python generator function, so that
a thread runs its kernel as straight Python: SSA values are local
variables, scf.for/while/if are Python loops and branches, each op is a
call of its EXEC entry (kernel.py) or, for the scalar integer and float
arithmetic that makes most of a kernel's ops, a Python expression with the
same result, and the ops a thread meets the others at (SYNC: barriers,
collectives, mbarrier waits) are `yield from` their entries. Interpreting
the ops one by one through a table of values cost most of the emulator's
time; the semantics stay those of kernel.py's entries."""
import operator
import re

import numpy as np

from .kernel import (CMPI, DT, EXEC, FLOATS, INT_CASTS, SIGN_EXTENDING, SYNC, int_width,
                     vec_type)

# Integer ops whose scalar form is one Python operator, masked to the width.
INT_OPERATORS = {
    "arith.addi": "+", "llvm.add": "+", "arith.subi": "-", "llvm.sub": "-",
    "arith.muli": "*", "llvm.mul": "*", "arith.andi": "&", "llvm.and": "&",
    "arith.ori": "|", "llvm.or": "|", "arith.xori": "^", "arith.divui": "//",
    "llvm.udiv": "//", "arith.remui": "%", "arith.shrui": ">>", "llvm.lshr": ">>"}
# Float ops that are one Python operator on numpy scalars and vectors alike.
FLOAT_OPERATORS = {"arith.addf": "+", "arith.subf": "-", "arith.mulf": "*",
                   "arith.divf": "/"}
# The Python operators of kernel.CMPI's compares.
COMPARISONS = {operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=",
               operator.gt: ">", operator.ge: ">="}


class Writer:
    """The function's lines, its locals and the objects its code names."""

    def __init__(self):
        self.lines = []
        self.locals = {}    # SSA name -> Python local
        self.objects = {}   # global name in the code -> object

    def local(self, ssa):
        name = self.locals.get(ssa)
        if name is None:
            name = self.locals[ssa] = f"v{len(self.locals)}"
        return name

    def values(self, names):
        return [self.local(x) for x in names]

    def name(self, obj, prefix):
        name = f"{prefix}{len(self.objects)}"
        self.objects[name] = obj
        return name

    def emit(self, depth, text):
        self.lines.append("    " * depth + text)

    def assign(self, depth, targets, sources):
        """`targets = sources` (local names), nothing when there are none."""
        if len(targets) != len(sources):
            raise NotImplementedError(f"{len(sources)} value(s) for {len(targets)}")
        if targets:
            self.emit(depth, f"{', '.join(targets)} = {', '.join(sources)}")


def compile_kernel(kernel):
    """`kernel` (a gpu.func op) as a generator function body(th, args)."""
    w = Writer()
    body = kernel.regions[0]
    w.emit(0, "def body(th, args):")
    params = w.values(a for a, _ in body.args)
    if params:
        w.emit(1, f"{', '.join(params)}, = args")
    region(w, body, 1)
    # Unreachable: makes the function a generator even with no SYNC op.
    w.emit(1, "return")
    w.emit(1, "yield")
    namespace = dict(w.objects, np=np)
    exec(compile("\n".join(w.lines), f"<kernel {kernel.line[:60]}>", "exec"), namespace)
    return namespace["body"]


def region(w, reg, depth):
    """Emits `reg`'s ops but its terminator, which it returns (or None)."""
    w.emit(depth, "pass")
    for o in reg.ops:
        if o.name in ("scf.yield", "scf.condition"):
            return o
        operation(w, o, depth)
    return None


def yielded(w, reg, depth):
    """Emits `reg` and returns the locals its scf.yield hands back."""
    term = region(w, reg, depth)
    return w.values(term.operands) if term is not None else []


def operation(w, o, depth):
    n = o.name
    if n == "scf.for":
        return scf_for(w, o, depth)
    if n == "scf.while":
        return scf_while(w, o, depth)
    if n == "scf.if":
        return scf_if(w, o, depth)
    if n == "gpu.return":
        return w.emit(depth, "return")
    if o.regions:
        raise NotImplementedError(f"{n} with regions :: {o.line[:200]}")
    args = w.values(o.operands)
    operands = f"({args[0]},)" if len(args) == 1 else f"({', '.join(args)})"
    if n in SYNC:
        expr = f"yield from {w.name(SYNC[n], 'S')}(th, {w.name(o, 'O')}, {operands})"
    else:
        expr = inline(w, o, args)
        if expr is None:
            entry = EXEC.get(n) or missing(o)
            expr = f"{w.name(entry, 'F')}(th, {w.name(o, 'O')}, {operands})"
    results = w.values(o.results)
    w.emit(depth, f"{', '.join(results)} = {expr}" if results else expr)


def missing(o):
    """An entry for an op the emulator lacks: it fails where a thread runs it."""
    def fail(th, o_, ops):
        raise NotImplementedError(o.name + " :: " + o.line[:200])
    return fail


def scf_for(w, o, depth):
    lb, ub, step, *inits = w.values(o.operands)
    body = o.regions[0]
    iv, *iters = w.values(a for a, _ in body.args)
    i, end, stride = f"i{o.idx}", f"e{o.idx}", f"s{o.idx}"
    w.emit(depth, f"{i}, {end}, {stride} = {lb}, {ub}, {step}")
    w.assign(depth, iters, inits)
    w.emit(depth, f"while {i} < {end}:")
    w.emit(depth + 1, f"{iv} = {i}")
    w.assign(depth + 1, iters, yielded(w, body, depth + 1))
    w.emit(depth + 1, f"{i} += {stride}")
    w.assign(depth, w.values(o.results), iters)


def scf_while(w, o, depth):
    before, after = o.regions
    before_args = w.values(a for a, _ in before.args)
    after_args = w.values(a for a, _ in after.args)
    results = w.values(o.results)
    w.assign(depth, before_args, w.values(o.operands))
    w.emit(depth, "while True:")
    cond, *forwarded = w.values(region(w, before, depth + 1).operands)
    w.assign(depth + 1, results, forwarded)
    w.emit(depth + 1, f"if not {cond}:")
    w.emit(depth + 2, "break")
    w.assign(depth + 1, after_args, results)
    w.assign(depth + 1, before_args, yielded(w, after, depth + 1))


def scf_if(w, o, depth):
    results = w.values(o.results)
    w.emit(depth, f"if {w.local(o.operands[0])}:")
    w.assign(depth + 1, results, yielded(w, o.regions[0], depth + 1))
    if len(o.regions) > 1 and o.regions[1].ops:
        w.emit(depth, "else:")
        w.assign(depth + 1, results, yielded(w, o.regions[1], depth + 1))


def inline(w, o, args):
    """A Python expression computing `o` as its EXEC entry does, or None
    where the entry is called."""
    n = o.name
    if n in ("arith.constant", "llvm.mlir.constant"):
        value = EXEC[n](None, o, ())
        # Vector values are arrays a thread may change in place.
        return f"{w.name(value, 'K')}.copy()" if isinstance(value, np.ndarray) else \
            w.name(value, "K")
    if n == "builtin.unrealized_conversion_cast" and len(args) == 1 and \
            not o.rt.startswith("!llvm.struct<(ptr"):
        return args[0]  # the same value in the other dialect's type
    if n in FLOAT_OPERATORS:
        return f"{args[0]} {FLOAT_OPERATORS[n]} {args[1]}"
    if n == "arith.negf":
        return f"-{args[0]}"
    if n == "arith.select" and vec_type(o.rt) is None:
        return f"{args[1]} if {args[0]} else {args[2]}"
    if n == "llvm.extractvalue":
        position = re.search(r'position = array<i64: (\d+)>', o.line)
        if position:
            # A wgmma's accumulator (an Acc, not a list) is checked for
            # having retired.
            entry = w.name(EXEC[n], "F")
            return (f"{args[0]}[{position.group(1)}] if {args[0]}.__class__ is list "
                    f"else {entry}(th, {w.name(o, 'O')}, ({args[0]},))")
    if n == "vector.extract" and vec_type(o.rt) is None:
        position = re.search(r'static_position = array<i64: (\d+)>', o.line).group(1)
        return f"{args[0]}[{position}]" if o.rt in FLOATS else f"int({args[0]}[{position}])"
    if n in ("arith.bitcast", "llvm.bitcast") and o.argt[0].strip() in DT and (
            o.rt.strip() in DT or vec_type(o.rt)):
        source, result = w.name(DT[o.argt[0].strip()], "T"), o.rt.strip()
        bits = f"np.array([{args[0]}], {source})"
        vector = vec_type(result)
        if vector:
            return f"{bits}.view({w.name(DT[vector[1]], 'T')})"
        value = f"{bits}.view({w.name(DT[result], 'T')})[0]"
        return value if result in FLOATS else f"int({value})"
    width = int_width(o.rt)
    if n in INT_OPERATORS and width:
        return f"({args[0]} {INT_OPERATORS[n]} {args[1]}) & {(1 << width) - 1}"
    if n in ("arith.shli", "llvm.shl") and width:
        a, b = args
        return f"(({a} << {b}) & {(1 << width) - 1} if {b} < {width} else 0)"
    if n in ("arith.cmpi", "llvm.icmp") and int_width(o.argt[0]):
        return compare(o, args)
    if n in INT_CASTS and width and int_width(o.argt[0]):
        source = int_width(o.argt[0])
        if n in SIGN_EXTENDING and source < width:
            sign = 1 << (source - 1)
            return f"((({args[0]} & {(1 << source) - 1}) ^ {sign}) - {sign}) & {(1 << width) - 1}"
        return f"{args[0]} & {(1 << min(source, width)) - 1}"
    return None


def compare(o, args):
    """An integer compare: signed ones compare the values with their sign
    bits flipped, which orders w-bit two's complement as unsigned."""
    number = int(re.search(r'predicate = (\d+)', o.line).group(1))
    signed, compare_ = CMPI[number]
    a, b = args
    if signed:
        w = int_width(o.argt[0])
        mask, sign = (1 << w) - 1, 1 << (w - 1)
        a, b = f"(({a} & {mask}) ^ {sign})", f"(({b} & {mask}) ^ {sign})"
    return f"int({a} {COMPARISONS[compare_]} {b})"
