"""Block-level interpreter of generic-form MLIR GPU kernels (after
--convert-nvgpu-to-nvvm), with the host function that launches them.

It holds the semantics of each op (EXEC; SYNC for the ops a thread yields
on), which the Python function that compiler.py makes of a kernel calls. All
threads of a block run as coroutines; they meet at gpu.barrier, at
collectives (gpu.shuffle, nvvm.wgmma.mma_async) and block in
nvvm.mbarrier.try_wait.parity. TMA loads (128-byte swizzle, OOB zero fill)
complete at issue; wgmma reads shared memory through its descriptors as the
PTX ISA defines them (K-major and MN-major canonical layouts, 128-byte
swizzle applied to the final address). Every shared-memory write and every
wgmma read is logged with (thread, barrier epoch, program order) so that the
orderings can be checked afterwards independently of this schedule. The
sm_80 ops: cp.async (zero fill, commit and wait groups; logged as a store
at issue and at completion), ldmatrix, mma.sync and vote.sync ballot
(collectives of one warp)."""
import functools
import operator
import re
import numpy as np
import ml_dtypes

BF16 = ml_dtypes.bfloat16
DT = {"i8": np.uint8, "i16": np.uint16, "i32": np.uint32, "i64": np.uint64,
      "f32": np.float32, "f16": np.float16, "bf16": BF16, "f64": np.float64,
      "index": np.uint64, "i1": np.uint8}
FLOATS = ("f32", "f16", "bf16", "f64")
# Bytes per element of each type.
SIZE = {name: np.dtype(t).itemsize for name, t in DT.items()}

SHARED_SIZE = 1 << 18
MBAR_ADDR = 8          # static __mbarrier (3 x i64)
DYN_BASE = 48          # dynamic shared memory symbol
WG_GAP = 64            # bytes between the shared segments


class KernelError(Exception):
    pass


# ------------------------------------------------------------------ parsing
class Op:
    __slots__ = ("name", "results", "operands", "line", "regions", "rt",
                 "argt", "c", "idx")

    def __init__(self):
        self.regions = []
        self.c = None


class Region:
    __slots__ = ("args", "ops")

    def __init__(self):
        self.args = []
        self.ops = []


RES_RE = re.compile(r'^((?:%[\w.#]+(?::\d+)?)(?:, %[\w.#]+(?::\d+)?)*) = ')
NAME_RE = re.compile(r'"([\w.]+)"\(([^)]*)\)')


def split_results(s):
    out = []
    for r in s.split(", "):
        if ":" in r:
            nm, n = r.split(":")
            out += [f"{nm}#{i}" for i in range(int(n))]
        else:
            out.append(r)
    return out


def split_top(s):
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def set_sig(op, line):
    i = line.rfind(" -> ")
    if i < 0:
        op.rt, op.argt = "", []
        return
    op.rt = line[i + 4:].strip()
    # operand types: the parenthesis closing right before " -> "
    j = i - 1
    depth = 0
    k = j
    while k >= 0:
        ch = line[k]
        if ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                break
        k -= 1
    op.argt = split_top(line[k + 1:j])


OPID = [0]


def parse_line(s):
    op = Op()
    op.line = s
    OPID[0] += 1
    op.idx = OPID[0]
    m = RES_RE.match(s)
    op.results = []
    if m:
        op.results = split_results(m.group(1))
        s = s[m.end():]
    m = NAME_RE.match(s)
    op.name = m.group(1)
    o = m.group(2).strip()
    op.operands = [x.strip() for x in o.split(",")] if o else []
    return op


def parse_file(path):
    """Returns the top-level region (list of ops) of a generic-form file."""
    root = Region()
    stack = [(None, root)]
    for raw in open(path):
        s = raw.strip()
        if not s or s.startswith("//"):
            continue
        if s.startswith("^bb"):
            m = re.match(r'\^bb\d+\((.*)\):$', s)
            args = []
            if m and m.group(1):
                for a in re.split(r', (?=%)', m.group(1)):
                    nm, ty = a.split(": ", 1)
                    args.append((nm, ty))
            stack[-1][1].args = args
            continue
        if s.startswith("}, {"):
            op = stack[-1][0]
            r = Region()
            op.regions.append(r)
            stack[-1] = (op, r)
            continue
        if s.startswith("})"):
            op, _ = stack.pop()
            op.line += " " + s[2:]
            set_sig(op, s)
            continue
        op = parse_line(s)
        stack[-1][1].ops.append(op)
        if s.endswith("({"):
            r = Region()
            op.regions.append(r)
            stack.append((op, r))
        else:
            set_sig(op, s)
    return root


def walk(region):
    for op in region.ops:
        yield op
        for r in op.regions:
            yield from walk(r)


def sym_name(op):
    m = re.search(r'sym_name = "([\w.]+)"', op.line)
    return m.group(1) if m else None


# ------------------------------------------------------------------ values
class MemRef:
    __slots__ = ("buf", "off", "shape", "dtype", "strides")

    def __init__(self, buf, off, shape, dtype, strides=None):
        self.buf, self.off, self.shape, self.dtype = buf, off, list(shape), dtype
        if strides is None:
            strides, acc = [], 1
            for s in reversed(self.shape):
                strides.append(acc)
                acc *= s
            strides.reverse()
        self.strides = strides

    def __repr__(self):
        return f"MemRef({self.buf}+{self.off}, {self.shape}, {self.dtype})"


class Ptr:
    __slots__ = ("buf", "off")

    def __init__(self, buf, off):
        self.buf, self.off = buf, off

    def __repr__(self):
        return f"Ptr({self.buf}+{self.off})"


class Acc(list):
    """A wgmma result fragment (64 f32) and the wgmma that wrote it."""
    wid = None


class TensorMap:
    def __init__(self, mem, box, buffers, problems):
        self.mem = mem              # MemRef (outer .. inner)
        self.box = list(box)        # outer .. inner
        self.esz = np.dtype(DT[mem.dtype]).itemsize
        rank = len(mem.shape)
        base = buffers.base[mem.buf] + mem.off
        if base % 16:
            problems.append(f"tensor map global address {base} not 16-byte aligned")
        for d in range(rank - 1):
            if (mem.strides[d] * self.esz) % 16:
                problems.append(
                    f"tensor map of {mem.shape}: stride {mem.strides[d] * self.esz} "
                    f"bytes is no multiple of 16 (cuTensorMapEncodeTiled fails)")
        if self.box[-1] * self.esz > 128:
            problems.append("box inner dimension over the 128-byte swizzle span")

    def __repr__(self):
        return f"TensorMap({self.mem}, box {self.box})"


def parse_memref_type(t):
    t = t.strip()
    m = re.match(r'memref<(.*)>$', t)
    body = m.group(1)
    parts = split_top(body)
    # The element type may hold an x itself (index).
    dims, elt = re.match(r'((?:(?:\?|\d+)x)*)(.+)$', parts[0]).groups()
    shape = [(-1 if p == "?" else int(p)) for p in dims.split("x")[:-1]]
    space = parts[1] if len(parts) > 1 else None
    return shape, elt, space


@functools.lru_cache(maxsize=None)
def vec_type(t):
    m = re.match(r'vector<([\dx]+)x(\w+)>$', t.strip())
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("x")), m.group(2)


@functools.lru_cache(maxsize=None)
def int_width(t):
    t = t.strip()
    if t == "index":
        return 64
    m = re.match(r'i(\d+)$', t)
    return int(m.group(1)) if m else None


def to_signed(x, w):
    x &= (1 << w) - 1
    return x - (1 << w) if x >> (w - 1) else x


def swz128(addr):
    return addr ^ (((addr >> 7) & 7) << 4)


# ------------------------------------------------------------------ memory
class Buffers:
    """Global buffers: name -> bytes, with device addresses."""

    def __init__(self):
        self.data = {}
        self.base = {}
        self.next = 1 << 32
        self.writes = {}   # buf -> np int array of per-byte write counts

    def add(self, name, arr):
        self.data[name] = np.frombuffer(np.ascontiguousarray(arr).tobytes(),
                                        np.uint8).copy()
        self.base[name] = self.next
        self.next += ((len(self.data[name]) + 4095) // 4096 + 1) * 4096
        return name

    def find(self, addr):
        for n, b in self.base.items():
            if b <= addr < b + len(self.data[n]):
                return n, addr - b
        raise KernelError(f"global address {addr:#x} in no buffer")


# ------------------------------------------------------------------ kernel interpreter
class Block:
    """One thread block: shared memory, mbarriers, logs."""

    def __init__(self, kernel, body, args, grid, bid, bdim, dyn_bytes, buffers,
                 globals_, problems, seed):
        self.kernel = kernel
        self.body = body        # the kernel as compiler.compile_kernel made it
        self.args = args
        self.grid, self.bid, self.bdim = grid, bid, bdim
        self.dyn_bytes = dyn_bytes
        self.buffers = buffers
        self.globals = globals_
        self.problems = problems
        rng = np.random.default_rng(seed)
        # uninitialised shared memory: garbage
        self.shared = rng.integers(0, 256, SHARED_SIZE, dtype=np.uint8)
        self.mbar = {}          # addr -> state dict
        self.gidx = 0
        self.stores = []        # (t, epoch, seq, gidx, addr, n)
        self.fences = {}        # t -> list of (epoch, seq)
        self.tmas = []          # dict
        self.waits = []         # (t, epoch, seq, mbar, phase)
        self.arrives = {}       # t -> list of (seq, epoch, mbar, phase): plain arrivals
        self.wgmmas = {}        # wid -> dict
        self.retires = {}       # wid -> list of (t, epoch, seq)
        self.sloads = []        # (t, epoch, seq, gidx, addr, n) generic shared loads
        self.mbinit = {}        # addr -> (t, epoch, seq)
        # gidx -> the thread's count of bar.warp.sync at that access: two
        # accesses of one warp's threads with different counts are ordered.
        self.warp_epochs = {}
        self.atomics = set()    # gidx of the accesses of atomic operations
        self.nwg = 0
        # The sm_80 kernels' static shared buffers (workgroup attributions:
        # the gpu.func's block arguments past its kernel arguments) follow
        # the dynamic segment, WG_GAP bytes apart, so that an access running
        # past one of them lies in no segment.
        self.segments = [(DYN_BASE, DYN_BASE + dyn_bytes)]
        self.args = list(args)
        aligns = [int(a) for a in re.findall(r'llvm.align = (\d+)', kernel.line)]
        top = DYN_BASE + dyn_bytes
        for i, (_, ty) in enumerate(kernel.regions[0].args[len(args):]):
            shape, elt, _ = parse_memref_type(ty)
            align = aligns[i] if i < len(aligns) else 16
            top = -(-(top + WG_GAP) // align) * align
            self.args.append(MemRef("shared", top, shape, elt))
            n = int(np.prod(shape)) * np.dtype(DT[elt]).itemsize
            self.segments.append((top, top + n))
            top += n
        # Per byte: cp.async copies issued over it and not yet waited for.
        self.inflight = np.zeros(SHARED_SIZE, np.int32)
        self.copies_in_flight = 0  # saves looking at `inflight` while none is

    def check_shared(self, addr, n, what, dyn=True):
        """Whether [addr, addr + n) lies within one of the segments (dyn) or
        within the shared window; a problem if not."""
        segments = self.segments if dyn else [(0, SHARED_SIZE)]
        for lo, hi in segments:
            if lo <= addr and addr + n <= hi:
                return True
        self.problems.append(f"{what}: shared [{addr}, {addr + n}) outside "
                             f"the shared segments {segments}")
        return False

    def check_inflight(self, addr, n, t, what):
        """A read or write of bytes an unwaited cp.async will write: the
        copy may land before or after it."""
        if self.copies_in_flight and self.inflight[addr:addr + n].any():
            self.problems.append(f"RACE t{t}: {what} at shared {addr} while a cp.async "
                                 f"into it is not waited for")


class Thread:
    def __init__(self, blk, tid):
        self.b = blk
        self.tid = tid
        self.epoch = 0
        self.wepoch = 0         # bar.warp.sync passed
        self.seq = 0
        self.pending = []       # wids since the last commit
        self.groups = []        # list of list of wids, not yet retired
        self.retired = set()
        self.copies = []        # cp.async (addr, bytes) since the last commit
        self.copy_groups = []   # committed cp.async groups, oldest first

    # ---- helpers
    def ev(self):
        self.seq += 1
        self.b.gidx += 1
        self.b.warp_epochs[self.b.gidx] = self.wepoch
        return (self.tid, self.epoch, self.seq, self.b.gidx)

    def run(self):
        yield from self.b.body(self, self.b.args)
        if self.copies or any(self.copy_groups):
            self.b.problems.append(f"t{self.tid}: exits with cp.async copies not waited for")

    # ---- memory access
    def addr_of(self, mr, idx, n_elems, what):
        flat = 0
        bad = False
        last = len(mr.shape) - 1
        for d, (i, s, st) in enumerate(zip(idx, mr.shape, mr.strides)):
            if i < 0 or i + (n_elems if d == last else 1) > s:
                bad = True
            flat += i * st
        esz = SIZE[mr.dtype]
        if bad:
            self.b.problems.append(
                f"OOB {what} {mr.buf}{list(idx)} x{n_elems} shape {mr.shape} "
                f"(t{self.tid} block {self.b.bid})")
        return mr.off + flat * esz, n_elems * esz

    def read(self, mr, idx, n, what, align=None):
        addr, nb = self.addr_of(mr, idx, n, what)
        if align and addr % align:
            self.b.problems.append(f"misaligned {what} at {addr}")
        if mr.buf == "shared":
            self.b.check_shared(addr, nb, what, dyn=addr >= DYN_BASE)
            self.b.check_inflight(addr, nb, self.tid, what)
            t, e, s, g = self.ev()
            self.b.sloads.append((t, e, s, g, addr, nb))
            raw = self.b.shared[addr:addr + nb]
        else:
            buf = self.b.buffers.data[mr.buf]
            if addr < 0 or addr + nb > len(buf):
                self.b.problems.append(f"global read past buffer {mr.buf} [{addr},{addr+nb}) size {len(buf)}")
                raw = np.full(nb, 0xAB, np.uint8)
            else:
                raw = buf[addr:addr + nb]
        return raw.view(DT[mr.dtype]).copy()

    def write(self, mr, idx, vals, what, align=None):
        data = np.asarray(vals, DT[mr.dtype]).tobytes()
        n = len(data) // SIZE[mr.dtype]
        addr, nb = self.addr_of(mr, idx, n, what)
        if align and addr % align:
            self.b.problems.append(f"misaligned {what} at {addr}")
        if mr.buf == "shared":
            if self.b.check_shared(addr, nb, what, dyn=addr >= DYN_BASE):
                self.b.check_inflight(addr, nb, self.tid, what)
                self.b.shared[addr:addr + nb] = np.frombuffer(data, np.uint8)
            t, e, s, g = self.ev()
            self.b.stores.append((t, e, s, g, addr, nb))
        else:
            buf = self.b.buffers.data[mr.buf]
            if addr < 0 or addr + nb > len(buf):
                self.b.problems.append(f"global write past buffer {mr.buf}")
                return
            buf[addr:addr + nb] = np.frombuffer(data, np.uint8)
            w = self.b.buffers.writes.setdefault(mr.buf, np.zeros(len(buf), np.int32))
            w[addr:addr + nb] += 1


# ------------------------------------------------------------------ op semantics
EXEC = {}
SYNC = {}


def _registrar(table):
    """A decorator factory entering a function into `table` under op names."""
    def register(*names):
        def deco(f):
            for n in names:
                table[n] = f
            return f
        return deco
    return register


op = _registrar(EXEC)      # ops a thread runs alone
sync = _registrar(SYNC)    # ops a thread yields on (barriers, collectives)


def parse_const(text, ty):
    ty = ty.strip()
    if text in ("true", "false"):
        return 1 if text == "true" else 0
    if ty in FLOATS:
        if text.startswith("0x"):
            bits = int(text, 16)
            if ty == "f32":
                return np.uint32(bits).view(np.float32)
            if ty == "f64":
                return np.uint64(bits).view(np.float64)
            return np.uint16(bits).view(DT[ty])
        return DT[ty](float(text))
    w = int_width(ty)
    return int(text) & ((1 << w) - 1)


@op("arith.constant", "llvm.mlir.constant")
def _const(th, o, ops):
    c = o.c
    if c is None:
        m = re.search(r'value = (.*?)(?: : ([^,}]*))?\}>', o.line)
        val = m.group(1)
        rt = o.rt
        if val.startswith("dense<"):
            inner = val[6:-1]
            vt = vec_type(rt)
            shp, elt = vt
            if inner.startswith("["):
                items = [x.strip() for x in inner[1:-1].split(",")]
            else:
                items = [inner] * int(np.prod(shp))
            arr = np.array([parse_const(x, elt) for x in items], dtype=DT[elt])
            c = ("v", arr)
        else:
            c = ("s", parse_const(val, rt))
        o.c = c
    if c[0] == "v":
        return c[1].copy()
    return c[1]


def _ibin(f):
    def g(th, o, ops):
        w = o.c
        if w is None:
            w = o.c = int_width(o.rt)
        a, b = ops
        if isinstance(a, np.ndarray):
            raise NotImplementedError("vector int op " + o.line[:100])
        return f(a, b, w) & ((1 << w) - 1)
    return g


EXEC["arith.addi"] = _ibin(lambda a, b, w: a + b)
EXEC["llvm.add"] = EXEC["arith.addi"]
EXEC["arith.subi"] = _ibin(lambda a, b, w: a - b)
EXEC["arith.muli"] = _ibin(lambda a, b, w: a * b)
EXEC["llvm.mul"] = EXEC["arith.muli"]
EXEC["llvm.sub"] = EXEC["arith.subi"]
EXEC["arith.divui"] = _ibin(lambda a, b, w: a // b)
EXEC["llvm.udiv"] = EXEC["arith.divui"]
EXEC["arith.remui"] = _ibin(lambda a, b, w: a % b)
EXEC["arith.minui"] = _ibin(lambda a, b, w: min(a, b))
EXEC["arith.maxui"] = _ibin(lambda a, b, w: max(a, b))
EXEC["arith.minsi"] = _ibin(lambda a, b, w: min(to_signed(a, w), to_signed(b, w)))
EXEC["arith.maxsi"] = _ibin(lambda a, b, w: max(to_signed(a, w), to_signed(b, w)))
EXEC["arith.andi"] = _ibin(lambda a, b, w: a & b)
EXEC["llvm.and"] = EXEC["arith.andi"]
EXEC["arith.ori"] = _ibin(lambda a, b, w: a | b)
EXEC["llvm.or"] = EXEC["arith.ori"]
EXEC["arith.xori"] = _ibin(lambda a, b, w: a ^ b)
EXEC["arith.shli"] = _ibin(lambda a, b, w: a << b if b < w else 0)
EXEC["llvm.shl"] = EXEC["arith.shli"]
EXEC["arith.shrui"] = _ibin(lambda a, b, w: a >> b)
EXEC["llvm.lshr"] = EXEC["arith.shrui"]
EXEC["arith.shrsi"] = _ibin(lambda a, b, w: to_signed(a, w) >> b)


def _divsi(a, b, w):
    a, b = to_signed(a, w), to_signed(b, w)
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


EXEC["arith.divsi"] = _ibin(_divsi)
EXEC["arith.remsi"] = _ibin(lambda a, b, w: to_signed(a, w) - _divsi(a, b, w) * to_signed(b, w))
EXEC["arith.ceildivui"] = _ibin(lambda a, b, w: -(-a // b))


# arith/llvm integer predicates by number: eq ne slt sle sgt sge ult ule ugt uge.
CMPI = [(False, operator.eq), (False, operator.ne), (True, operator.lt), (True, operator.le),
        (True, operator.gt), (True, operator.ge), (False, operator.lt), (False, operator.le),
        (False, operator.gt), (False, operator.ge)]


@op("arith.cmpi", "llvm.icmp")
def _cmpi(th, o, ops):
    c = o.c
    if c is None:
        number = int(re.search(r'predicate = (\d+)', o.line).group(1))
        c = o.c = CMPI[number] + (int_width(o.argt[0]) or 64,)
    signed, compare, w = c
    a, b = ops
    if isinstance(a, (Ptr, TensorMap)) or a is None or isinstance(b, (Ptr, TensorMap)) or b is None:
        # Pointers compare by identity: eq, else "not the same".
        same = a is b
        return int(same if compare is operator.eq else not same)
    if signed:
        a, b = to_signed(a, w), to_signed(b, w)
    return int(compare(a, b))


@op("arith.select")
def _select(th, o, ops):
    c, a, b = ops
    if isinstance(c, np.ndarray):
        return np.where(c.astype(bool), a, b).astype(a.dtype)
    return a if c else b


INT_CASTS = ("arith.index_cast", "arith.index_castui", "arith.extui", "arith.extsi",
             "arith.trunci", "llvm.trunc", "llvm.zext", "llvm.sext")
SIGN_EXTENDING = ("arith.index_cast", "arith.extsi", "llvm.sext")


@op(*INT_CASTS)
def _icast(th, o, ops):
    c = o.c
    if c is None:
        c = o.c = (int_width(o.argt[0]), int_width(o.rt), o.name in SIGN_EXTENDING)
    sw, dw, signed = c
    x = ops[0] & ((1 << sw) - 1)
    if signed and sw < dw and x >> (sw - 1):
        x -= 1 << sw
    return x & ((1 << dw) - 1)


def fbin(f):
    def g(th, o, ops):
        a, b = ops
        return f(a, b)
    return g


EXEC["arith.addf"] = fbin(lambda a, b: a + b)
EXEC["arith.subf"] = fbin(lambda a, b: a - b)
EXEC["arith.mulf"] = fbin(lambda a, b: a * b)
EXEC["arith.divf"] = fbin(lambda a, b: a / b)
EXEC["arith.maximumf"] = fbin(lambda a, b: np.maximum(a, b))
EXEC["arith.minimumf"] = fbin(lambda a, b: np.minimum(a, b))
EXEC["arith.maxnumf"] = fbin(lambda a, b: np.fmax(a, b))
EXEC["arith.minnumf"] = fbin(lambda a, b: np.fmin(a, b))
EXEC["arith.negf"] = lambda th, o, ops: -ops[0]


@op("llvm.intr.fma", "math.fma")
def _fma(th, o, ops):
    a, b, c = ops
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


@op("arith.cmpf")
def _cmpf(th, o, ops):
    p = o.c
    if p is None:
        p = o.c = int(re.search(r'predicate = (\d+)', o.line).group(1))
    a, b = ops
    nan = np.isnan(a) or np.isnan(b)
    r = {0: False, 1: a == b, 2: a > b, 3: a >= b, 4: a < b, 5: a <= b,
         6: a != b, 7: True, 8: a == b, 9: a > b, 10: a >= b, 11: a < b,
         12: a <= b, 13: a != b, 14: False, 15: True}[p]
    if nan:
        r = p >= 8
        if p == 7:
            r = False
        if p == 0:
            r = False
    return int(bool(r))


@op("arith.extf", "arith.truncf", "llvm.fpext", "llvm.fptrunc")
def _fcast(th, o, ops):
    rt = o.rt
    vt = vec_type(rt)
    if vt:
        return np.asarray(ops[0], np.float32).astype(DT[vt[1]])
    return DT[rt](np.float32(ops[0])) if rt != "f64" else np.float64(ops[0])


@op("arith.fptosi", "arith.fptoui")
def _fptosi(th, o, ops):
    """Saturating, as cvt.rzi does (LLVM leaves out-of-range poison)."""
    w = int_width(o.rt)
    x = float(ops[0])
    if np.isnan(x):
        return 0
    x = int(np.trunc(x))
    if o.name == "arith.fptoui":
        return max(min(x, (1 << w) - 1), 0)
    x = max(min(x, (1 << (w - 1)) - 1), -(1 << (w - 1)))
    return x & ((1 << w) - 1)


@op("arith.sitofp", "arith.uitofp")
def _sitofp(th, o, ops):
    w = int_width(o.argt[0])
    x = ops[0]
    if o.name == "arith.sitofp":
        x = to_signed(x, w)
    return DT[o.rt](x)


@op("arith.bitcast", "llvm.bitcast")
def _bitcast(th, o, ops):
    x = ops[0]
    src, dst = o.argt[0].strip(), o.rt.strip()
    vt = vec_type(dst)
    if vt:
        # an i32 register as the vector of its halves (mma.sync fragments)
        return np.array([x], DT[src]).view(DT[vt[1]]).copy()
    if dst in FLOATS:
        return np.array([x], DT[src]).view(DT[dst])[0]
    v = np.array([x], DT[src]).view(DT[dst])[0]
    return int(v)


@op("gpu.thread_id")
def _tid(th, o, ops):
    return th.tid if "dim x" in o.line else 0


def _dimension(o):
    """0, 1 or 2: the x, y or z of a gpu id or size op."""
    return "xyz".index(re.search(r'dim (\w)', o.line).group(1))


@op("gpu.block_id")
def _bid(th, o, ops):
    return th.b.bid[_dimension(o)]


@op("gpu.grid_dim")
def _gdim(th, o, ops):
    return th.b.grid[_dimension(o)]


@op("gpu.block_dim")
def _bdim(th, o, ops):
    return th.b.bdim[_dimension(o)]


@op("gpu.dynamic_shared_memory")
def _dsm(th, o, ops):
    return MemRef("shared", DYN_BASE, [th.b.dyn_bytes], "i8")


def address(th, p):
    """The address of a MemRef or Ptr: the shared window's offset, or the
    global buffer's base plus the offset."""
    if p.buf == "shared":
        return p.off
    return th.b.buffers.base[p.buf] + p.off


def bind(env, results, value):
    """Binds an op's results (one value, or a sequence for several)."""
    if len(results) == 1:
        env[results[0]] = value
    else:
        bind_all(env, results, value)


def bind_all(env, results, values):
    """Binds results to a region's yielded values (None: none)."""
    for r, v in zip(results, values or []):
        env[r] = v


@op("memref.extract_aligned_pointer_as_index")
def _eap(th, o, ops):
    return address(th, ops[0])


@op("memref.dim")
def _mdim(th, o, ops):
    return ops[0].shape[ops[1]]


@op("memref.view")
def _view(th, o, ops):
    src, off = ops[0], ops[1]
    shape, elt, _ = parse_memref_type(o.rt)
    return MemRef(src.buf, src.off + off, shape, elt)


@op("memref.collapse_shape")
def _collapse(th, o, ops):
    # Only of contiguous memrefs here: the same bytes, a flatter shape.
    shape, elt, _ = parse_memref_type(o.rt)
    return MemRef(ops[0].buf, ops[0].off, shape, elt)


@op("memref.get_global")
def _gglobal(th, o, ops):
    name = re.search(r'name = @([\w.]+)', o.line).group(1)
    if name.startswith("__mbarrier"):
        # nvgpu.mbarrier.create's groups: __mbarrier, __mbarrier_0, ...; the
        # first at MBAR_ADDR, the others 64 bytes apart at the top of the
        # shared window (their state is kept apart from the bytes).
        shape, elt, _ = parse_memref_type(o.rt)
        suffix = name[len("__mbarrier"):]
        addr = MBAR_ADDR if not suffix else SHARED_SIZE - 64 * (int(suffix[1:]) + 2)
        return MemRef("shared", addr, shape, elt)
    return th.b.globals[name]


@op("memref.load")
def _mload(th, o, ops):
    v = th.read(ops[0], ops[1:], 1, "memref.load")[0]
    dt = ops[0].dtype
    if dt in FLOATS:
        return v
    return int(v)


@op("memref.store")
def _mstore(th, o, ops):
    th.write(ops[1], ops[2:], [ops[0]], "memref.store")


def _vector_access(o):
    """A vector load's or store's alignment (or None) and the number of
    elements it loads (None for a store)."""
    if o.c is None:
        al = re.search(r'alignment = (\d+)', o.line)
        vt = vec_type(o.rt)
        o.c = (int(al.group(1)) if al else None, int(np.prod(vt[0])) if vt else None)
    return o.c


@op("vector.load")
def _vload(th, o, ops):
    align, n = _vector_access(o)
    return th.read(ops[0], ops[1:], n, "vector.load", align)


@op("vector.store")
def _vstore(th, o, ops):
    th.write(ops[1], ops[2:], ops[0], "vector.store", _vector_access(o)[0])


@op("vector.from_elements")
def _vfe(th, o, ops):
    shp, elt = vec_type(o.rt)
    return np.array(ops, dtype=DT[elt])


@op("vector.extract")
def _vext(th, o, ops):
    pos = o.c
    if pos is None:
        pos = o.c = int(re.search(r'static_position = array<i64: (\d+)>', o.line).group(1))
    v = ops[0][pos]
    if isinstance(v, np.ndarray):
        return v.copy()
    return v if o.rt in FLOATS else int(v)


@op("vector.broadcast", "vector.splat")
def _vbc(th, o, ops):
    shp, elt = vec_type(o.rt)
    return np.full(shp, ops[0], dtype=DT[elt])


@op("vector.bitcast")
def _vbit(th, o, ops):
    shp, elt = vec_type(o.rt)
    return ops[0].view(DT[elt]).copy()


@op("vector.shuffle")
def _vshuf(th, o, ops):
    mask = o.c
    if mask is None:
        mask = o.c = [int(x) for x in
                      re.search(r'mask = array<i64: ([\d, ]+)>', o.line).group(1).split(",")]
    cat = np.concatenate([ops[0], ops[1]])
    return cat[mask].copy()


@op("builtin.unrealized_conversion_cast")
def _ucc(th, o, ops):
    x = ops[0]
    if isinstance(x, MemRef) and o.rt.startswith("!llvm.struct<(ptr"):
        p = Ptr(x.buf, x.off)
        return [p, p, 0, list(x.shape), list(x.strides)]
    return x


@op("llvm.extractvalue")
def _llext(th, o, ops):
    pos = o.c
    if pos is None:
        pos = o.c = [int(x) for x in re.search(r'position = array<i64: ([\d, ]+)>', o.line).group(1).split(",")]
    v = ops[0]
    for p in pos:
        if isinstance(v, Acc) and v.wid is not None:
            if not th.is_done(v.wid):
                th.b.problems.append(
                    f"t{th.tid}: accumulator of wgmma {v.wid} read before its wait_group")
        v = v[p]
    return v


def _is_done(self, wid):
    return wid in self.retired


Thread.is_done = _is_done


@op("llvm.insertvalue")
def _llins(th, o, ops):
    """A new struct value: the lists along the position are copied and the
    rest is shared, since no struct value is ever changed in place."""
    c = o.c
    if c is None:
        c = o.c = ([int(x) for x in re.search(r'position = array<i64: ([\d, ]+)>',
                                               o.line).group(1).split(",")],
                   shape_struct(o.rt))
    pos, poison = c
    agg, val = ops
    top = t = copy_node(poison if agg is None else agg)
    for p in pos[:-1]:
        t[p] = t = copy_node(t[p])
    t[pos[-1]] = val
    return top


def copy_node(s):
    """A copy of one level of a struct value (an Acc keeps its wgmma)."""
    if isinstance(s, Acc):
        a = Acc(s)
        a.wid = s.wid
        return a
    return list(s)


def shape_struct(t):
    """A struct value of type t, all fields None (poison/undef)."""
    t = t.strip()
    if t.startswith("!llvm.struct<("):
        inner = t[len("!llvm.struct<("):-2]
        return [shape_struct(x) for x in split_top(inner)]
    if t.startswith("struct<("):
        inner = t[len("struct<("):-2]
        return [shape_struct(x) for x in split_top(inner)]
    if t.startswith("!llvm.array<") or t.startswith("array<"):
        m = re.match(r'(?:!llvm\.)?array<(\d+) x (.*)>$', t)
        return [shape_struct(m.group(2)) for _ in range(int(m.group(1)))]
    return None


def zero_struct(t):
    t = t.strip()
    if t.startswith("!llvm.struct<(") or t.startswith("struct<("):
        inner = t[t.index("<(") + 2:-2]
        return [zero_struct(x) for x in split_top(inner)]
    if t in FLOATS:
        return DT[t](0)
    return 0


@op("llvm.mlir.poison", "llvm.mlir.undef")
def _poison(th, o, ops):
    # Shared between threads: insertvalue copies what it changes.
    if o.c is None:
        o.c = shape_struct(o.rt)
    return o.c


@op("llvm.mlir.zero")
def _zero(th, o, ops):
    if o.rt.strip().startswith("!llvm.ptr"):
        return None
    if o.c is None:
        o.c = zero_struct(o.rt)
    return o.c


@op("llvm.ptrtoint")
def _p2i(th, o, ops):
    return address(th, ops[0])


@op("llvm.inttoptr")
def _i2p(th, o, ops):
    if "ptr<3>" in o.rt:
        return Ptr("shared", ops[0])
    n, off = th.b.buffers.find(ops[0])
    return Ptr(n, off)


@op("llvm.addrspacecast")
def _asc(th, o, ops):
    return ops[0]


@op("llvm.getelementptr")
def _gep(th, o, ops):
    if o.c is None:
        m = re.search(r'elem_type = (!llvm\.ptr|\w+)', o.line)
        o.c = ({"i64": 8, "i32": 4, "i8": 1, "f32": 4, "i16": 2, "f16": 2, "bf16": 2,
                "!llvm.ptr": 8}[m.group(1)],
               [int(x) for x in re.search(r'rawConstantIndices = array<i32: ([-\d, ]+)>',
                                          o.line).group(1).split(",")])
    esz, raw = o.c
    p = ops[0] if ops[0] is not None else Ptr(None, 0)  # offsets from null
    dyn = list(ops[1:])
    assert len(raw) == 1
    i = dyn.pop(0) if raw[0] == -2147483648 else raw[0]
    i = to_signed(i, 64)
    return Ptr(p.buf, p.off + i * esz)


@op("llvm.atomicrmw")
def _atomic(th, o, ops):
    p, v = ops
    binop = int(re.search(r'bin_op = (\d+)', o.line).group(1))
    if binop != 11:
        raise NotImplementedError("atomicrmw " + o.line)
    buf = th.b.buffers.data[p.buf]
    if p.off < 0 or p.off + 4 > len(buf) or p.off % 4:
        th.b.problems.append(f"atomic add OOB/misaligned {p}")
        return np.float32(0)
    old = buf[p.off:p.off + 4].view(np.float32)[0]
    buf[p.off:p.off + 4] = np.frombuffer(np.float32(old + np.float32(v)).tobytes(), np.uint8)
    return old


@op("nvvm.fence.proxy")
def _fproxy(th, o, ops):
    if "async.shared" not in o.line and "async" not in o.line:
        th.b.problems.append("unexpected fence " + o.line[:120])
    th.b.fences.setdefault(th.tid, []).append((th.epoch, th.seq + 1))
    th.seq += 1


@op("nvvm.fence.mbarrier.init")
def _fmbi(th, o, ops):
    th.seq += 1


@op("nvvm.mbarrier.init")
def _mbinit(th, o, ops):
    p, cnt = ops
    assert p.buf == "shared"
    th.b.mbar[p.off] = dict(count=cnt, pending=cnt, tx=0, phase=0, arrivals=[])
    th.b.mbinit[p.off] = (th.tid, th.epoch, th.seq)


def mbar_state(th, p, what):
    st = th.b.mbar.get(p.off)
    if st is None:
        raise KernelError(f"{what} on an uninitialised mbarrier {p}")
    it, ie, iseq = th.b.mbinit[p.off]
    if not (ie < th.epoch or (it == th.tid and iseq <= th.seq)):
        th.b.problems.append(f"t{th.tid}: {what} on mbarrier {p.off} not ordered after its init")
    return st


def mbar_check(st):
    if st["pending"] == 0 and st["tx"] == 0:
        st["phase"] += 1
        st["pending"] = st["count"]


@op("nvvm.mbarrier.arrive")
def _mbarrive(th, o, ops):
    """A plain arrival: it completes the phase it counts toward for whoever
    waits for that phase (the warp-specialized kernel's consumers hand a
    stage back to the producer this way)."""
    p, = ops
    st = mbar_state(th, p, "arrive")
    th.seq += 1
    th.b.arrives.setdefault(th.tid, []).append((th.seq, th.epoch, p.off, st["phase"]))
    st["pending"] -= 1
    if st["pending"] < 0:
        th.b.problems.append("mbarrier over-arrived")
    mbar_check(st)
    return 0


@op("nvvm.setmaxregister")
def _setmaxnreg(th, o, ops):
    # Registers are not modelled; the PTX ISA's bounds are.
    n = int(re.search(r'regCount = (\d+)', o.line).group(1))
    if n % 8 or not 24 <= n <= 256:
        th.b.problems.append(f"setmaxnreg {n}: not a multiple of 8 in [24, 256]")
    th.seq += 1


@op("nvvm.mbarrier.arrive.expect_tx")
def _mbexp(th, o, ops):
    p, n = ops
    st = mbar_state(th, p, "arrive.expect_tx")
    st["tx"] += n
    st["pending"] -= 1
    st["arrivals"].append((st["phase"], n))
    th.seq += 1
    if st["pending"] < 0:
        th.b.problems.append("mbarrier over-arrived")
    mbar_check(st)


@op("nvvm.cp.async.bulk.tensor.shared.cluster.global")
def _tma(th, o, ops):
    seg = [int(x) for x in re.search(r'operandSegmentSizes = array<i32: ([\d, ]+)>', o.line).group(1).split(",")]
    dst, tmap = ops[0], ops[1]
    coords = ops[2:2 + seg[2]]
    mb = ops[2 + seg[2]]
    if seg[4:] != [0] * len(seg[4:]) and any(seg[4:]):
        raise NotImplementedError("TMA with extra operands")
    b = th.b
    st = mbar_state(th, mb, "TMA")
    coords = [to_signed(c, 32) for c in coords]
    m = tmap.mem
    rank = len(m.shape)
    assert rank == 2 and len(coords) == 2
    b0, b1 = tmap.box
    c_in, c_out = coords
    esz = tmap.esz
    buf = b.buffers.data[m.buf]
    arr = np.zeros((b0, b1), dtype=DT[m.dtype])
    oob = 0
    for i in range(b0):
        r = c_out + i
        if r < 0 or r >= m.shape[0]:
            oob += 1
            continue
        lo, hi = max(c_in, 0), min(c_in + b1, m.shape[1])
        if lo < hi:
            start = m.off + (r * m.strides[0] + lo) * esz
            arr[i, lo - c_in:hi - c_in] = np.frombuffer(
                buf[start:start + (hi - lo) * esz].tobytes(), DT[m.dtype])
    raw = arr.tobytes()
    nbytes = len(raw)
    base = dst.off
    if base % 1024:
        b.problems.append(f"TMA destination {base} not 1024-byte aligned (128B swizzle)")
    if b.check_shared(base, nbytes, "TMA"):
        src = np.frombuffer(raw, np.uint8)
        addrs = base + np.arange(nbytes)
        phys = addrs ^ (((addrs >> 7) & 7) << 4)
        b.shared[phys] = src
    t, e, s, g = th.ev()
    b.tmas.append(dict(t=t, epoch=e, seq=s, gidx=g, addr=base, n=nbytes,
                       mbar=mb.off, phase=st["phase"], coords=tuple(coords),
                       map=tmap))
    st["tx"] -= nbytes
    mbar_check(st)


@sync("nvvm.mbarrier.try_wait.parity")
def _mbwait(th, o, ops):
    p, parity, ticks = ops
    st = mbar_state(th, p, "try_wait")
    while st["phase"] % 2 == parity:
        yield ("block", lambda: st["phase"] % 2 != parity)
    t, e, s, g = th.ev()
    th.b.waits.append((t, e, s, p.off, st["phase"] - 1))
    return None
    yield


@sync("gpu.barrier")
def _barrier(th, o, ops):
    yield ("barrier", o)
    th.epoch += 1
    th.seq += 1
    return None


@sync("nvvm.barrier")
def _named_barrier(th, o, ops):
    """bar.sync id, count: the threads that reach barrier `id` meet once
    `count` of them are there (the warp-specialized kernel's consumers,
    while its producer runs on). Like a block barrier it starts a new epoch
    for them; epochs then order accesses among the threads that share the
    barrier (the consumers pass the same ones)."""
    seg = [int(x) for x in re.search(r'operandSegmentSizes = array<i32: ([\d, ]+)>',
                                     o.line).group(1).split(",")]
    if seg[2:] != [0] * len(seg[2:]) or seg[:2] != [1, 1]:
        raise NotImplementedError("nvvm.barrier without an id and a count: " + o.line[:160])
    bid, count = ops
    if count % 32:
        th.b.problems.append(f"t{th.tid}: named barrier {bid} for {count} threads")
    yield ("named", bid, count)
    th.epoch += 1
    th.seq += 1
    return None


@sync("gpu.shuffle")
def _shuffle(th, o, ops):
    val, off, width = ops
    mode = o.c
    if mode is None:
        mode = o.c = re.search(r'shuffle_mode (\w+)', o.line).group(1)
    res = yield ("collective", o, (val, off, width, mode))
    return res


@op("nvvm.wgmma.fence.aligned")
def _wgfence(th, o, ops):
    th.seq += 1


@op("nvvm.wgmma.commit.group.sync.aligned")
def _wgcommit(th, o, ops):
    th.groups.append(th.pending)
    th.pending = []
    th.seq += 1


@op("nvvm.wgmma.wait.group.sync.aligned")
def _wgwait(th, o, ops):
    n = int(re.search(r'group = (\d+)', o.line).group(1))
    if th.pending:
        th.b.problems.append(f"t{th.tid}: wait_group with uncommitted wgmmas")
    while len(th.groups) > n:
        g = th.groups.pop(0)
        th.seq += 1
        for wid in g:
            th.retired.add(wid)
            th.b.retires.setdefault(wid, []).append((th.tid, th.epoch, th.seq))


@sync("nvvm.wgmma.mma_async")
def _wgmma(th, o, ops):
    acc, da, db = ops
    res = yield ("collective", o, (acc, da, db, th.epoch, th.seq + 1))
    th.seq += 1
    th.pending.append(res.wid)
    return res


# ------------------------------------------------------------------ collectives
def do_shuffle(blk, o, payloads):
    out = {}
    for t, (val, off, width, mode) in payloads.items():
        lane = t % 32
        seg = lane - lane % width
        if mode == "up":
            src = lane - off
            ok = src >= seg
        elif mode == "down":
            src = lane + off
            ok = src < seg + width
        elif mode == "xor":
            src = lane ^ off
            ok = seg <= src < seg + width
        else:
            src = off
            ok = 0 <= src < width
            src = seg + src
        st = t - lane + src
        if ok and st in payloads:
            out[t] = (payloads[st][0], 1)
        else:
            out[t] = (val, 0)
    return out


def desc_fields(d):
    return dict(start=(d & 0x3FFF) << 4, lbo=((d >> 16) & 0x3FFF) << 4,
                sbo=((d >> 32) & 0x3FFF) << 4, base=(d >> 49) & 7,
                swz=(d >> 62) & 3)


def operand_addrs(blk, d, rows, k, kmajor, what):
    """Byte addresses (before reading 2 bytes) of a rows x k operand
    (rows = M or N) read through descriptor d: [rows, k] array."""
    f = desc_fields(d)
    if f["swz"] != 1:
        blk.problems.append(f"{what}: descriptor swizzle mode {f['swz']} (only 128B modelled)")
    if f["base"] != 0:
        blk.problems.append(f"{what}: descriptor base offset {f['base']}")
    mn = np.arange(rows)[:, None]
    kk = np.arange(k)[None, :]
    if kmajor:
        addr = f["start"] + (mn % 8) * 128 + (mn // 8) * f["sbo"] + kk * 2
    else:
        addr = f["start"] + (mn % 64) * 2 + (mn // 64) * f["lbo"] + (kk % 8) * 128 + (kk // 8) * f["sbo"]
    return addr ^ (((addr >> 7) & 7) << 4)


def do_wgmma(blk, o, payloads):
    if o.c is None:
        m = re.search(r'shape = #nvvm.shape<m = (\d+), n = (\d+), k = (\d+)>', o.line)
        M, N, K = map(int, m.groups())
        la = re.search(r'layoutA = #nvvm.mma_layout<(\w+)>', o.line).group(1)
        lb = re.search(r'layoutB = #nvvm.mma_layout<(\w+)>', o.line).group(1)
        ta = re.search(r'typeA = #nvvm.wgmma_type<(\w+)>', o.line).group(1)
        tb = re.search(r'typeB = #nvvm.wgmma_type<(\w+)>', o.line).group(1)
        td = re.search(r'typeD = #nvvm.wgmma_type<(\w+)>', o.line).group(1)
        for k in ("scaleA = #nvvm.wgmma_scale_in<one>", "scaleB = #nvvm.wgmma_scale_in<one>",
                  "scaleD = #nvvm.wgmma_scale_out<one>"):
            if k not in o.line:
                raise NotImplementedError(o.line[:300])
        o.c = (M, N, K, la, lb, ta, tb, td)
    M, N, K, la, lb, ta, tb, td = o.c
    assert td == "f32" and ta == tb and ta in ("bf16", "f16")
    ts = sorted(payloads)
    if len(ts) != 128:
        raise KernelError(f"wgmma with {len(ts)} threads")
    das = {payloads[t][1] for t in ts}
    dbs = {payloads[t][2] for t in ts}
    eps = {payloads[t][3] for t in ts}
    if len(das) != 1 or len(dbs) != 1:
        blk.problems.append("wgmma descriptors differ across threads")
    if len(eps) != 1:
        blk.problems.append(f"wgmma issued in different barrier epochs {eps}")
    da, db = das.pop(), dbs.pop()
    # A: layout row = K-major (imm-trans-a 0); B: col = K-major, row = N-major
    aaddr = operand_addrs(blk, da, M, K, la == "row", "A")
    baddr = operand_addrs(blk, db, N, K, lb == "col", "B")
    dt = DT[ta]
    sh = blk.shared

    def gather(addr):
        ok = (addr >= DYN_BASE) & (addr + 2 <= DYN_BASE + blk.dyn_bytes)
        if not ok.all():
            blk.problems.append("wgmma reads outside the dynamic segment")
        a = np.clip(addr, 0, SHARED_SIZE - 2)
        lo = sh[a].astype(np.uint16)
        hi = sh[a + 1].astype(np.uint16)
        return (lo | (hi << 8)).view(dt).astype(np.float64)
    A = gather(aaddr)          # [M, K]
    B = gather(baddr)          # [N, K]
    # D fragments
    D = np.zeros((M, N), np.float64)
    rows, cols = frag_index(M, N)
    for t in ts:
        acc = payloads[t][0]
        vals = np.array([np.float64(x) for x in acc], np.float64)
        D[rows[t % 128], cols[t % 128]] = vals
    D = (D + A @ B.T).astype(np.float32)
    blk.nwg += 1
    wid = blk.nwg
    chunks = np.zeros(SHARED_SIZE // 16, bool)
    chunks[np.clip(aaddr, 0, SHARED_SIZE - 1) >> 4] = True
    chunks[np.clip(baddr, 0, SHARED_SIZE - 1) >> 4] = True
    blk.wgmmas[wid] = dict(epoch=eps.pop() if eps else None,
                           seq={t: payloads[t][4] for t in ts},
                           gidx=blk.gidx, chunks=chunks, da=da, db=db)
    blk.gidx += 1
    out = {}
    for t in ts:
        a = Acc(D[rows[t % 128], cols[t % 128]].tolist())
        a[:] = [np.float32(x) for x in a]
        a.wid = wid
        out[t] = a
    return out


_FRAG = {}


def frag_index(M, N):
    key = (M, N)
    if key not in _FRAG:
        rows, cols = {}, {}
        for t in range(128):
            w, l = t // 32, t % 32
            r = np.arange(N // 2)
            rows[t] = 16 * w + l // 4 + 8 * ((r // 2) % 2)
            cols[t] = 8 * (r // 4) + 2 * (l % 4) + r % 2
        _FRAG[key] = (rows, cols)
    return _FRAG[key]


# ------------------------------------------------------------------ sm_80: cp.async
@op("nvvm.cp.async.shared.global")
def _cp_async(th, o, ops):
    """cp.async of `size` bytes: src-size (the optional operand) bytes read
    from global, the rest zero filled. The global bytes are read at issue
    and land in shared memory at the wait_group that completes the copy's
    group; until then any access to them is reported (check_inflight). The
    copy is logged as a store both at issue and at completion, so that
    another thread reading the old or the new bytes in either barrier epoch
    is a race for check_orders."""
    b = th.b
    size = o.c
    if size is None:
        size = o.c = int(re.search(r'size = (\d+) : i32', o.line).group(1))
    dst, src = ops[0], ops[1]
    n = ops[2] if len(ops) > 2 else size
    if n > size:
        b.problems.append(f"t{th.tid}: cp.async src-size {n} over cp-size {size}")
        n = size
    data = np.zeros(size, np.uint8)
    if n:
        gaddr = address(th, src)
        if gaddr % size:
            b.problems.append(f"t{th.tid}: cp.async source {gaddr:#x} not {size}-byte aligned")
        buf = b.buffers.data[src.buf]
        if src.off < 0 or src.off + n > len(buf):
            b.problems.append(f"OOB cp.async read {src.buf}[{src.off}, {src.off + n}) "
                              f"size {len(buf)} (t{th.tid} block {b.bid})")
        else:
            data[:n] = buf[src.off:src.off + n]
    addr = dst.off
    if addr % size:
        b.problems.append(f"t{th.tid}: cp.async destination {addr} not {size}-byte aligned")
    if not b.check_shared(addr, size, "cp.async"):
        return None
    b.check_inflight(addr, size, th.tid, "cp.async")
    b.inflight[addr:addr + size] += 1
    b.copies_in_flight += 1
    th.copies.append((addr, data))
    t, e, sq, g = th.ev()
    b.stores.append((t, e, sq, g, addr, size))
    return None


@op("nvvm.cp.async.commit.group")
def _cp_commit(th, o, ops):
    th.copy_groups.append(th.copies)
    th.copies = []


@op("nvvm.cp.async.wait.group")
def _cp_wait(th, o, ops):
    """Completes this thread's committed groups but the newest n (the
    uncommitted copies stay in flight)."""
    n = int(re.search(r'n = (\d+)', o.line).group(1))
    b = th.b
    while len(th.copy_groups) > n:
        for addr, data in th.copy_groups.pop(0):
            b.inflight[addr:addr + len(data)] -= 1
            b.copies_in_flight -= 1
            b.shared[addr:addr + len(data)] = data
            t, e, sq, g = th.ev()
            b.stores.append((t, e, sq, g, addr, len(data)))


# ------------------------------------------------------------------ sm_80: warp matrix ops
@sync("nvvm.ldmatrix", "nvvm.mma.sync", "nvvm.vote.sync")
def _warp_op(th, o, ops):
    """ldmatrix, mma.sync and vote.sync: each lane's result depends on the
    other lanes' operands, so the warp meets as a collective."""
    th.seq += 1
    res = yield ("collective", o, (ops, th.epoch, th.seq))
    return res


def _warps(payloads, what):
    """{warp: [its 32 threads]}, every warp whole."""
    warps = {}
    for t in sorted(payloads):
        warps.setdefault(t // 32, []).append(t)
    for w, ts in warps.items():
        if len(ts) != 32:
            raise KernelError(f"{what} with {len(ts)} threads of warp {w}")
    return warps


def _pack(lo, hi):
    """An i32 register of two 16-bit elements, the first in the low half."""
    return int(lo) | (int(hi) << 16)


def do_ldmatrix(blk, o, payloads):
    """ldmatrix .m8n8 .b16 (x1, x2, x4): lane 8i + r gives the address of
    row r of matrix i (16 bytes); lane l gets, of each matrix, row l/4,
    elements 2(l%4) and 2(l%4)+1, or with .trans (layout col) the column:
    M[2(l%4) + j][l/4]."""
    if o.c is None:
        num = int(re.search(r'num = (\d+)', o.line).group(1))
        if "m = 8, n = 8" not in o.line or "b16" not in o.line:
            raise NotImplementedError(o.line[:200])
        o.c = (num, "mma_layout<col>" in o.line)
    num, trans = o.c
    out = {}
    for w, ts in _warps(payloads, "ldmatrix").items():
        mats = np.zeros((num, 8, 8), np.uint16)
        for l in range(8 * num):
            t = ts[l]
            (p,), epoch, seq = payloads[t]
            a = p.off
            if p.buf != "shared":
                raise KernelError(f"ldmatrix from {p.buf}")
            if a % 16:
                blk.problems.append(f"t{t}: ldmatrix row address {a} not 16-byte aligned")
            if not blk.check_shared(a, 16, "ldmatrix"):
                continue
            blk.check_inflight(a, 16, t, "ldmatrix")
            blk.gidx += 1
            blk.sloads.append((t, epoch, seq, blk.gidx, a, 16))
            mats[l // 8, l % 8] = blk.shared[a:a + 16].view(np.uint16)
        for l, t in enumerate(ts):
            g, q = l // 4, l % 4
            if trans:
                out[t] = [_pack(m[2 * q, g], m[2 * q + 1, g]) for m in mats]
            else:
                out[t] = [_pack(m[g, 2 * q], m[g, 2 * q + 1]) for m in mats]
    return out


def do_mma_sync(blk, o, payloads):
    """mma.sync m16n8k16 .row.col, f16/bf16 -> f32, with the fragments of the
    PTX ISA (groupID g = lane/4, tig q = lane%4): A registers 0-3 hold rows
    g, g+8, g, g+8 at columns 2q+{0,1} (+8 for registers 2, 3); B registers
    0, 1 hold rows k = 2q+{0,1} (+8) of column g; C/D hold rows g and g+8 at
    columns 2q+{0,1}."""
    if o.c is None:
        if ("m = 16, n = 8, k = 16" not in o.line or "layoutA = #nvvm.mma_layout<row>" not in o.line
                or "layoutB = #nvvm.mma_layout<col>" not in o.line):
            raise NotImplementedError(o.line[:300])
        ta = re.search(r'multiplicandAPtxType = #nvvm.mma_type<(\w+)>', o.line).group(1)
        tb = re.search(r'multiplicandBPtxType = #nvvm.mma_type<(\w+)>', o.line).group(1)
        if ta != tb or ta not in ("bf16", "f16") or o.rt.count("f32") != 4:
            raise NotImplementedError(o.line[:300])
        o.c = DT[ta]
    with np.errstate(all="ignore"):  # garbage shared memory under a fault
        return _mma_warps(blk, payloads, o.c)


def _fragment_indices():
    """Per lane l (groupID g = l/4, tig q = l%4): the (row, column) of each
    half of A's 4 registers, of B's 2 (k, n) and of C/D's 4 elements."""
    lane = np.arange(32)
    g, q = lane // 4, lane % 4
    reg, half = np.arange(4)[None, :, None], np.arange(2)[None, None, :]
    a_rows = np.broadcast_to(g[:, None, None] + 8 * (reg % 2), (32, 4, 2))
    a_cols = 2 * q[:, None, None] + 8 * (reg // 2) + half
    b_rows = 2 * q[:, None, None] + 8 * np.arange(2)[None, :, None] + half
    b_cols = np.broadcast_to(g[:, None, None], (32, 2, 2))
    c_rows = g[:, None] + 8 * (np.arange(4)[None, :] // 2)
    c_cols = 2 * q[:, None] + np.arange(4)[None, :] % 2
    return a_rows, a_cols, b_rows, b_cols, c_rows, c_cols


MMA_FRAGMENTS = _fragment_indices()


def _halves(regs, dt):
    """The 16-bit halves of i32 registers (bf16: ints) or the elements of
    vector<2xf16> registers, as float64 of shape (lanes, registers, 2)."""
    if isinstance(regs[0][0], np.ndarray):
        return np.array(regs, dt).astype(np.float64)
    bits = np.array(regs, np.uint32)
    return bits.view(np.uint16).view(dt).reshape(len(regs), -1, 2).astype(np.float64)


def _mma_warps(blk, payloads, dt):
    a_rows, a_cols, b_rows, b_cols, c_rows, c_cols = MMA_FRAGMENTS
    out = {}
    for w, ts in _warps(payloads, "mma.sync").items():
        eps = {payloads[t][1] for t in ts}
        if len(eps) != 1:
            blk.problems.append(f"mma.sync of warp {w} in different barrier epochs {eps}")
        ops = [payloads[t][0] for t in ts]
        A = np.zeros((16, 16))
        B = np.zeros((16, 8))
        C = np.zeros((16, 8))
        A[a_rows, a_cols] = _halves([x[0:4] for x in ops], dt)
        B[b_rows, b_cols] = _halves([x[4:6] for x in ops], dt)
        C[c_rows, c_cols] = np.array([x[6:10] for x in ops], np.float64)
        D = (A @ B + C).astype(np.float32)[c_rows, c_cols]
        for l, t in enumerate(ts):
            out[t] = list(D[l])
    return out


def do_vote(blk, o, payloads):
    """vote.sync.ballot: bit l of every lane's result is lane l's predicate;
    every lane of the warp must be in the member mask (and arrive)."""
    if "ballot" not in o.line:
        raise NotImplementedError(o.line[:200])
    out = {}
    for w, ts in _warps(payloads, "vote.sync").items():
        bits = 0
        for l, t in enumerate(ts):
            mask, pred = payloads[t][0]
            if mask & 0xFFFFFFFF != 0xFFFFFFFF:
                raise NotImplementedError(f"vote.sync member mask {mask:#x}")
            bits |= (1 if pred else 0) << l
        for t in ts:
            out[t] = bits
    return out


EXEC["llvm.intr.ctpop"] = lambda th, o, ops: bin(ops[0] & ((1 << int_width(o.rt)) - 1)).count("1")


@op("llvm.intr.cttz")
def _cttz(th, o, ops):
    w = int_width(o.rt)
    x = ops[0] & ((1 << w) - 1)
    if x == 0:
        if "is_zero_poison = true" in o.line:
            th.b.problems.append(f"t{th.tid}: cttz of 0 (poison)")
        return w
    return (x & -x).bit_length() - 1


@op("llvm.intr.ctlz")
def _ctlz(th, o, ops):
    w = int_width(o.rt)
    x = ops[0] & ((1 << w) - 1)
    if x == 0 and "is_zero_poison = true" in o.line:
        th.b.problems.append(f"t{th.tid}: ctlz of 0 (poison)")
    return w - x.bit_length()


# ------------------------------------------------------------------ warp-synchronous code
@sync("nvvm.bar.warp.sync")
def _warp_sync(th, o, ops):
    """__syncwarp: orders the shared-memory accesses of the warp's lanes
    before it with those after it (shuffles and match.sync do not)."""
    mask = ops[0]
    th.seq += 1
    yield ("collective", o, (mask,))
    th.wepoch += 1
    return None


def do_warp_sync(blk, o, payloads):
    for w, ts in _warps(payloads, "bar.warp.sync").items():
        for t in ts:
            if payloads[t][0] & 0xFFFFFFFF != 0xFFFFFFFF:
                raise NotImplementedError(f"bar.warp.sync member mask {payloads[t][0]:#x}")
    return {t: None for t in payloads}


@sync("nvvm.match.sync")
def _match(th, o, ops):
    mask, value = ops
    th.seq += 1
    res = yield ("collective", o, (mask, value))
    return res


def do_match(blk, o, payloads):
    """match.any.sync: each lane gets the mask of the lanes whose value
    equals its own."""
    if "match_sync_kind any" not in o.line:
        raise NotImplementedError(o.line[:200])
    out = {}
    for w, ts in _warps(payloads, "match.sync").items():
        if any(payloads[t][0] & 0xFFFFFFFF != 0xFFFFFFFF for t in ts):
            raise NotImplementedError("match.sync with a partial member mask")
        for t in ts:
            out[t] = sum(1 << l for l, u in enumerate(ts) if payloads[u][1] == payloads[t][1])
    return out


EXEC["nvvm.read.ptx.sreg.lanemask.lt"] = lambda th, o, ops: (1 << (th.tid % 32)) - 1
EXEC["nvvm.read.ptx.sreg.lanemask.gt"] = (
    lambda th, o, ops: 0xFFFFFFFF & ~((1 << (th.tid % 32 + 1)) - 1))


@op("nvvm.memory.barrier")
def _membar(th, o, ops):
    """membar.gl before a block's arrival on a global counter: the blocks
    run one after the other here, so whether it orders enough between
    blocks is not checked."""


@op("nvvm.inline_ptx")
def _inline_ptx(th, o, ops):
    code = re.search(r'ptxCode = "([^"]*)"', o.line).group(1)
    if code.startswith("ex2.approx.f32 "):
        # within 2 ulp of 2^x on the GPU; the exact value here
        return np.float32(np.exp2(np.float64(ops[0])))
    raise NotImplementedError("inline PTX " + code)


@op("vector.fma")
def _vfma(th, o, ops):
    a, b, c = (np.asarray(x, np.float64) for x in ops)
    return (a * b + c).astype(np.float32)


ATOMIC_KINDS = {1: lambda a, b: a + b, 6: max, 7: max, 10: min, 11: min,
                14: lambda a, b: a | b, 3: lambda a, b: b}


@op("memref.atomic_rmw")
def _atomic_rmw(th, o, ops):
    """Integer atomics (shared or global memory); the old value."""
    kind = int(re.search(r'kind = (\d+)', o.line).group(1))
    value, mr, idx = ops[0], ops[1], ops[2:]
    if kind not in ATOMIC_KINDS or mr.dtype in FLOATS:
        raise NotImplementedError("atomic_rmw " + o.line[:200])
    first = th.b.gidx + 1
    w = int_width(mr.dtype)
    old = int(th.read(mr, idx, 1, "atomic_rmw")[0])
    if kind in (6, 10):  # signed max / min
        new = ATOMIC_KINDS[kind](to_signed(old, w), to_signed(value, w))
    else:
        new = ATOMIC_KINDS[kind](old, value & ((1 << w) - 1))
    th.write(mr, idx, [new & ((1 << w) - 1)], "atomic_rmw")
    th.b.atomics.update(range(first, th.b.gidx + 1))
    return old


COLLECTIVES = {"gpu.shuffle": do_shuffle, "nvvm.wgmma.mma_async": do_wgmma,
               "nvvm.ldmatrix": do_ldmatrix, "nvvm.mma.sync": do_mma_sync,
               "nvvm.vote.sync": do_vote, "nvvm.bar.warp.sync": do_warp_sync,
               "nvvm.match.sync": do_match}
# Collectives of one warp: they run as soon as its 32 lanes meet.
WARP_COLLECTIVES = ("nvvm.ldmatrix", "nvvm.mma.sync", "nvvm.vote.sync", "gpu.shuffle",
                    "nvvm.bar.warp.sync", "nvvm.match.sync")
# Collectives of one warpgroup: they run as soon as its 128 threads meet
# (the warp-specialized kernel's consumers, whatever its producer does).
WARPGROUP_COLLECTIVES = ("nvvm.wgmma.mma_async",)


# ------------------------------------------------------------------ scheduler
def run_block(blk, nthreads):
    threads = [Thread(blk, t) for t in range(nthreads)]
    gens = [th.run() for th in threads]
    state = [("run", None)] * nthreads
    done = [False] * nthreads
    while not all(done):
        progressed = False
        for t in range(nthreads):
            if done[t]:
                continue
            kind, val = state[t]
            if kind == "block":
                if not val[0]():
                    continue
                send = None
            elif kind == "run":
                send = val
            else:
                continue
            try:
                y = gens[t].send(send)
            except StopIteration:
                done[t] = True
                progressed = True
                continue
            progressed = True
            state[t] = (y[0], y[1:])
        live = [t for t in range(nthreads) if not done[t]]
        if not live:
            break
        kinds = {state[t][0] for t in live}
        if kinds == {"barrier"}:
            if len(live) != nthreads:
                raise KernelError("barrier with exited threads")
            for t in live:
                state[t] = ("run", None)
            continue
        # A warp collective runs as soon as its warp's threads meet at it,
        # whatever the other warps do (the decode kernel's warps take
        # different numbers of k steps between barriers).
        ran = False
        for size, names in ((32, WARP_COLLECTIVES), (128, WARPGROUP_COLLECTIVES)):
            for w in sorted({t // size for t in live}):
                wt = [t for t in live if t // size == w]
                # A warpgroup collective needs all of its threads (a warp's
                # may run with some lanes exited).
                if (size == 128 and len(wt) != 128) or not all(
                        state[t][0] == "collective" and state[t][1][0].name in names
                        for t in wt):
                    continue
                if len({state[t][1][0].idx for t in wt}) != 1:
                    raise KernelError(f"threads of {size}-thread group {w} at different "
                                      "collectives")
                o = state[wt[0]][1][0]
                res = COLLECTIVES[o.name](blk, o, {t: state[t][1][1] for t in wt})
                for t in wt:
                    state[t] = ("run", res[t])
                ran = True
        if ran:
            continue
        # Named barriers: released once `count` threads wait at one id.
        named = {}
        for t in live:
            if state[t][0] == "named":
                named.setdefault(state[t][1][0], []).append(t)
        for bid, ts in named.items():
            count = state[ts[0]][1][1]
            if len(ts) > count or any(state[t][1][1] != count for t in ts):
                raise KernelError(f"named barrier {bid}: {len(ts)} threads, counts differ")
            if len(ts) == count:
                for t in ts:
                    state[t] = ("run", None)
                ran = True
        if ran:
            continue
        if kinds == {"collective"}:
            ops_ = {state[t][1][0].idx for t in live}
            if len(ops_) != 1:
                raise KernelError("threads at different collectives")
            o = state[live[0]][1][0]
            payloads = {t: state[t][1][1] for t in live}
            res = COLLECTIVES[o.name](blk, o, payloads)
            for t in live:
                state[t] = ("run", res[t])
            continue
        if not progressed:
            if any(state[t][0] == "block" and state[t][1][0]() for t in live):
                continue
            desc = {k: sum(1 for t in live if state[t][0] == k) for k in kinds}
            raise KernelError(f"deadlock: {desc}")
    return threads


# ------------------------------------------------------------------ ordering checks
def check_orders(blk):
    P = blk.problems
    # (thread, epoch) -> the last fence's program order in that epoch.
    last_fence = {}
    for t, lst in blk.fences.items():
        for e, s in lst:
            last_fence[t, e] = max(s, last_fence.get((t, e), s))

    def fenced(t, epoch, seq):
        return last_fence.get((t, epoch), -1) > seq

    waits_on = {}
    for (u, e, s, mb, ph) in blk.waits:
        waits_on.setdefault(mb, []).append((u, e, s, ph))
    # (mbar, phase) -> (the first epoch of a wait for it or a later phase,
    # {thread: the program order of its first such wait}).
    first_waits = {}

    def observed(mbar, phase, t, epoch, seq):
        """Whether thread t at (epoch, seq) has waited for `phase` of
        `mbar` (or a later one), or some thread has before a barrier."""
        first = first_waits.get((mbar, phase))
        if first is None:
            epoch0, seqs = float("inf"), {}
            for (u, e, s, ph) in waits_on.get(mbar, ()):
                if ph >= phase:
                    epoch0 = min(epoch0, e)
                    seqs[u] = min(s, seqs.get(u, s))
            first = first_waits[mbar, phase] = (epoch0, seqs)
        return first[0] < epoch or first[1].get(t, seq) < seq

    refills = {}

    def refilled(mbar, phase):
        """(mbarrier, phase) of each TMA issued by a thread after it waited
        for `phase` of `mbar`."""
        key = (mbar, phase)
        if key not in refills:
            refills[key] = [(T["mbar"], T["phase"]) for T in blk.tmas
                            if any(u == T["t"] and ph >= phase and s < T["seq"]
                                   for (u, e, s, ph) in waits_on.get(mbar, ()))]
        return refills[key]

    def released(mbar, phase, t, epoch, seq):
        """Whether an arrival on `phase` of `mbar` happens before thread t's
        access at (epoch, seq): t waited for that phase, or for the bytes of
        a TMA that a thread issued after waiting for it (a stage handed back
        to the producer, refilled, then waited for by a consumer)."""
        if observed(mbar, phase, t, epoch, seq):
            return True
        return any(observed(mb, ph, t, epoch, seq) for (mb, ph) in refilled(mbar, phase))

    def retired_before(wid, t, epoch, seq):
        # each warp's share of a wgmma completes for that warp's wait_group:
        # every warp must have retired it before the write, itself, before
        # a barrier, or before an mbarrier arrival released to the writer
        warps = set()
        for (u, e, s) in blk.retires.get(wid, []):
            if u // 32 in warps:
                continue
            if e < epoch or (u == t and e == epoch and s < seq):
                warps.add(u // 32)
            elif any(sa > s and released(mb, ph, t, epoch, seq)
                     for (sa, _, mb, ph) in blk.arrives.get(u, [])):
                warps.add(u // 32)
        return len(warps) == 4

    def handed_over(t, epoch, seq, tma):
        """Whether thread t's access at (epoch, seq) happens before `tma`:
        t, or a thread past a later barrier, arrived on a phase that the
        TMA's issuer waited for before issuing it (a consumer's stores into
        a stage, then the stage handed back and refilled). Epochs order the
        threads that pass the same barriers (the consumers)."""
        return any(((u == t and sa > seq) or (u != t and ea > epoch))
                   and (tma["mbar"], tma["phase"]) in refilled(mb, ph)
                   for u, lst in blk.arrives.items()
                   for (sa, ea, mb, ph) in lst)

    def observed_before(tma, t, epoch, seq):
        return observed(tma["mbar"], tma["phase"], t, epoch, seq)

    def chunk_ranges(spans):
        """The 16-byte chunks [lo, hi) that each (addr, bytes) touches."""
        a = np.array(spans, np.int64).reshape(-1, 2)
        last = SHARED_SIZE // 16
        return np.minimum(a[:, 0] >> 4, last), np.minimum((a[:, 0] + a[:, 1] + 15) >> 4, last)
    store_lo, store_hi = chunk_ranges([(x[4], x[5]) for x in blk.stores])
    tma_lo, tma_hi = chunk_ranges([(T["addr"], T["n"]) for T in blk.tmas])
    nrep = 0
    for wid, W in blk.wgmmas.items():
        # Chunks the wgmma reads among the first i: reads[hi] - reads[lo].
        reads = np.concatenate(([0], np.cumsum(W["chunks"])))
        for i in np.flatnonzero(reads[store_hi] > reads[store_lo]):
            (t, e, s, g, addr, n) = blk.stores[i]
            if g < W["gidx"]:
                if not (e < W["epoch"] and fenced(t, e, s)):
                    P.append(f"RACE store t{t} ep{e} -> wgmma {wid} (issued ep{W['epoch']}): not fenced+barriered before")
                    nrep += 1
            else:
                if not retired_before(wid, t, e, s):
                    P.append(f"RACE store t{t} ep{e} at {addr} overwrites operand of wgmma {wid} not yet retired")
                    nrep += 1
        for i in np.flatnonzero(reads[tma_hi] > reads[tma_lo]):
            T = blk.tmas[i]
            if T["gidx"] < W["gidx"]:
                for t, s in W["seq"].items():
                    if not observed_before(T, t, W["epoch"], s):
                        P.append(f"RACE wgmma {wid} (t{t}) reads TMA {T['coords']} data not waited for")
                        nrep += 1
                        break
            else:
                if not retired_before(wid, T["t"], T["epoch"], T["seq"]):
                    P.append(f"RACE TMA {T['coords']} into {T['addr']} (ep{T['epoch']}) while wgmma {wid} (ep{W['epoch']}) reads it")
                    nrep += 1
        if nrep > 20:
            break
    # stores vs TMA
    for T in blk.tmas:
        for (t, e, s, g, addr, n) in blk.stores:
            if addr + n <= T["addr"] or addr >= T["addr"] + T["n"]:
                continue
            if g > T["gidx"]:
                if not observed_before(T, t, e, s):
                    P.append(f"RACE store t{t} into TMA {T['coords']} destination before waiting for it")
            else:
                ordered = (e < T["epoch"] or (t == T["t"] and s < T["seq"])
                           or handed_over(t, e, s, T))
                if not (ordered and fenced(t, e, s)):
                    P.append(f"RACE store t{t} then TMA {T['coords']} overwrite without ordering")
    # generic store/store and store/load between threads in one epoch
    by_addr = {}
    for (t, e, s, g, addr, n) in blk.stores:
        for a in range(addr >> 3, (addr + n + 7) >> 3):
            by_addr.setdefault(a, []).append(("w", t, e, g, addr, addr + n))
    for (t, e, s, g, addr, n) in blk.sloads:
        for a in range(addr >> 3, (addr + n + 7) >> 3):
            if a in by_addr:
                by_addr[a].append(("r", t, e, g, addr, addr + n))
    bad = 0

    def ordered_in_warp(x, w):
        wx, ww = blk.warp_epochs.get(x[3]), blk.warp_epochs.get(w[3])
        return x[1] // 32 == w[1] // 32 and wx is not None and ww is not None and wx != ww
    for a, lst in by_addr.items():
        ws = [x for x in lst if x[0] == "w"]
        for x in lst:
            for w in ws:
                if x is w or x[1] == w[1]:
                    continue
                if x[3] in blk.atomics and w[3] in blk.atomics:
                    continue
                if max(x[4], w[4]) >= min(x[5], w[5]):  # same granule, other bytes
                    continue
                if x[2] == w[2] and not ordered_in_warp(x, w):
                    bad += 1
                    if bad <= 3:
                        P.append(f"RACE shared {x[0]}/w at {a * 8} threads t{x[1]}/t{w[1]} same epoch {w[2]}")
    # mbarrier phases: expected bytes vs TMA bytes
    for addr, st in blk.mbar.items():
        if st["pending"] != st["count"] or st["tx"] != 0:
            P.append(f"mbarrier {addr} left mid-phase: pending {st['pending']} tx {st['tx']}")
