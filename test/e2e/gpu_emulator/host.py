"""Runs the host function of a --convert-moe-to-gpu output: allocations,
memsets, tensor maps and launches, each kernel through emu.run_block."""
import json
import re
import time
import numpy as np
from . import kernel as emu
from .compiler import compile_kernel
from .kernel import (parse_file, walk, sym_name, MemRef, TensorMap, Buffers, Block,
                     run_block, check_orders, EXEC, parse_memref_type, DT, KernelError)


# What moe_gpu_multiprocessor_count answers the host functions.
MULTIPROCESSORS = 3


class Kernels:
    def __init__(self, kernfile):
        root = parse_file(kernfile)
        self.funcs = {}
        self.bodies = {}
        self.globals = {}
        for o in walk(root):
            if o.name == "gpu.func":
                self.funcs[sym_name(o)] = o
            elif o.name == "memref.global":
                self.globals_raw = getattr(self, "globals_raw", [])
                self.globals_raw.append(o)

    def body(self, name):
        """The kernel `name` as a Python function (compiled on first use)."""
        if name not in self.bodies:
            self.bodies[name] = compile_kernel(self.funcs[name])
        return self.bodies[name]


def make_globals(kern, buffers):
    g = {}
    for o in getattr(kern, "globals_raw", []):
        name = sym_name(o)
        if name.startswith("__mbarrier"):
            continue
        m = re.search(r'initial_value = dense<\[?([-\d, ]+)\]?> : tensor<([\dx]+)x(\w+)>', o.line)
        vals = [int(x) for x in m.group(1).split(",")]
        shape = [int(x) for x in m.group(2).split("x")]
        elt = m.group(3)
        arr = np.array(vals, dtype=DT[elt]).reshape(shape)
        buffers.add("g:" + name, arr)
        g[name] = MemRef("g:" + name, 0, shape, elt)
    return g


def memref_array(buffers, memref):
    """A copy of the elements `memref` covers (dense, row-major)."""
    n = int(np.prod(memref.shape))
    return np.frombuffer(buffers.data[memref.buf].tobytes(), DT[memref.dtype], n,
                         memref.off).reshape(memref.shape)


def run_host(hostfile, kernfile, inputs, seed=0, log=print, only_blocks=None, function=None,
             buffers=None, host_arrays=None, keep_contents=None):
    """Runs the host function `function` (default: the file's first) on
    `inputs`: (its first result, problems, launches, buffers), the last
    launch entry holding every result. A layer entry's pointer arguments
    point into `buffers` (device memory) or into `host_arrays` (name ->
    list: the buffer and dims arrays it reads with llvm.load). The launches
    of the kernels whose names `keep_contents` accepts keep copies of their
    memref arguments right after they ran (a layer entry's workspace is
    reused, so later kernels may overwrite them)."""
    root = parse_file(hostfile)
    # Definitions only (the runtime functions the host calls are declared).
    funcs = [o for o in walk(root) if o.name == "func.func" and o.regions[0].ops]
    func = funcs[0] if function is None else next(o for o in funcs if sym_name(o) == function)
    kern = Kernels(kernfile)
    buffers = Buffers() if buffers is None else buffers
    host_arrays = host_arrays or {}
    gl = make_globals(kern, buffers)
    problems = []
    env = {}
    body = func.regions[0]
    for i, ((nm, ty), arr) in enumerate(zip(body.args, inputs)):
        env[nm] = arr
    launches = []
    nalloc = [0]

    class H:  # host "thread" for EXEC ops that look at th
        pass
    h = H()

    def region(reg):
        for o in reg.ops:
            n = o.name
            ops = [env.get(x) for x in o.operands]
            res = None
            if n == "func.return":
                return ops
            if n == "scf.yield":
                return ops
            if n == "bufferization.to_buffer":
                arr = ops[0]
                shape, elt, _ = parse_memref_type(o.rt)
                if isinstance(arr, MemRef):
                    env[o.results[0]] = arr
                    continue
                name = f"in{o.operands[0]}"
                if name not in buffers.data:
                    buffers.add(name, arr)
                res = MemRef(name, 0, list(arr.shape), elt)
            elif n == "bufferization.to_tensor":
                res = ops[0]
            elif n == "memref.dim":
                res = ops[0].shape[ops[1]]
            elif n == "gpu.wait":
                res = None
            elif n == "gpu.alloc":
                shape, elt, _ = parse_memref_type(o.rt.strip("()").split(", !gpu")[0])
                dyn = [x for x in ops if isinstance(x, int)]
                shape = [dyn.pop(0) if s == -1 else s for s in shape]
                nalloc[0] += 1
                name = f"alloc{nalloc[0]}"
                nb = int(np.prod(shape)) * np.dtype(DT[elt]).itemsize
                buffers.add(name, np.full(nb, 0xFF, np.uint8))
                res = [MemRef(name, 0, shape, elt), None]
            elif n == "gpu.memset":
                # The memref's elements only (a layer entry's intermediates
                # share one workspace buffer).
                mr, v = ops[1], ops[2]
                n = int(np.prod(mr.shape))
                data = np.full(n, v, DT[mr.dtype]).view(np.uint8)
                buffers.data[mr.buf][mr.off:mr.off + len(data)] = data
                res = None
            elif n == "gpu.dealloc":
                res = None
            elif n == "memref.cast":
                res = ops[0]
            elif n in ("memref.collapse_shape", "memref.expand_shape"):
                shape, elt, _ = parse_memref_type(o.rt)
                if n == "memref.collapse_shape":
                    groups = json.loads(re.search(r"reassociation = (\[\[.*?\]\])",
                                                  o.line).group(1))
                    shape = [int(np.prod([ops[0].shape[d] for d in g])) for g in groups]
                else:
                    dynamic = list(ops[1:])  # the dynamic output sizes
                    shape = [dynamic.pop(0) if s == -1 else s for s in shape]
                res = MemRef(ops[0].buf, ops[0].off, shape, elt)
            elif n == "nvgpu.tma.create.descriptor":
                res = TensorMap(ops[0], ops[1:], buffers, problems)
                if any("fails" in p for p in problems):
                    res = None
            elif n == "builtin.unrealized_conversion_cast":
                res = ops[0]
                if o.rt.startswith("memref<") and isinstance(res, list):
                    # A memref descriptor built from a raw pointer: aligned
                    # pointer, offset, sizes, strides.
                    _, elt, _ = parse_memref_type(o.rt)
                    aligned, offset, sizes, strides = res[1], res[2], res[3], res[4]
                    if not isinstance(aligned, emu.Ptr):  # a null pointer: sizes only
                        aligned = emu.Ptr(None, 0)
                    res = MemRef(aligned.buf,
                                 aligned.off + offset * np.dtype(DT[elt]).itemsize,
                                 [int(v) for v in sizes], elt, [int(v) for v in strides])
            elif n == "llvm.load":
                p = ops[0]
                if p.buf not in host_arrays or p.off % 8:
                    raise NotImplementedError(f"host llvm.load from {p}")
                res = host_arrays[p.buf][p.off // 8]
            elif n == "scf.if":
                r = region(o.regions[0]) if ops[0] else (
                    region(o.regions[1]) if len(o.regions) > 1 else [])
                for rr, v in zip(o.results, r or []):
                    env[rr] = v
                continue
            elif n == "gpu.launch_func":
                launch(o, ops)
                res = None
            elif n == "func.call":
                callee = re.search(r'callee = @([\w]+)', o.line).group(1)
                if callee != "moe_gpu_multiprocessor_count":
                    raise NotImplementedError("host call of @" + callee)
                # Few SMs, so that a persistent kernel's blocks take several
                # tiles each.
                res = MULTIPROCESSORS
            else:
                f = EXEC.get(n)
                if f is None:
                    raise NotImplementedError("host " + n)
                res = f(h, o, ops)
            if o.results:
                emu.bind(env, o.results, res)
        return []

    def launch(o, ops):
        name = re.search(r'kernel = @[\w]+::@([\w]+)', o.line).group(1)
        seg = [int(x) for x in re.search(r'operandSegmentSizes = array<i32: ([\d, ]+)>', o.line).group(1).split(",")]
        i = seg[0]
        grid = ops[i:i + 3]
        bdim = ops[i + 3:i + 6]
        i += 6 + seg[7] + seg[8] + seg[9]
        dyn = ops[i] if seg[10] else 0
        i += seg[10]
        args = ops[i:i + seg[11]]
        k = kern.funcs[name]
        nth = bdim[0] * bdim[1] * bdim[2]
        t0 = time.time()
        nb = 0
        wgmmas = 0
        for bz in range(grid[2]):
            for by in range(grid[1]):
                for bx in range(grid[0]):
                    if only_blocks and name.startswith("grouped") and (bx, by) not in only_blocks:
                        continue
                    bp = []
                    blk = Block(k, kern.body(name), args, grid, (bx, by, bz), bdim, dyn, buffers,
                                gl, bp, seed + bx * 1000 + by)
                    try:
                        run_block(blk, nth)
                        check_orders(blk)
                    except KernelError as e:
                        bp.append(f"KernelError: {e}")
                    for p in bp:
                        problems.append(f"{name} block ({bx},{by}): {p}")
                    nb += 1
                    wgmmas += blk.nwg
        entry = dict(name=name, grid=grid, dyn=dyn, secs=time.time() - t0, args=args,
                     wgmmas=wgmmas)
        if keep_contents and keep_contents(name):
            entry["contents"] = [memref_array(buffers, a)
                                 if isinstance(a, MemRef) and a.buf else None for a in args]
        launches.append(entry)
        log(f"  ran {name} grid {grid} block {bdim} smem {dyn}: {time.time() - t0:.1f}s")

    out = region(body) or []
    arrays = [np.frombuffer(buffers.data[r.buf].tobytes(), DT[r.dtype]).reshape(r.shape)
              if isinstance(r, MemRef) else r for r in out]
    launches.append(dict(result=out[0].buf if out and isinstance(out[0], MemRef) else None,
                         results=arrays))
    return (arrays[0] if arrays else None), problems, launches, buffers
