"""Grouped-matmul cases as moe MLIR, lowered for the emulator: the host
function (generic form, from moe-opt --convert-moe-to-gpu) and the kernels
(the gpu.module after upstream mlir-opt --convert-nvgpu-to-nvvm, generic
form)."""
import os
import subprocess

BUILD_DIR = os.environ.get("MOE_BUILD_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "build"))
MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")
MLIR_OPT = os.environ.get("MOE_MLIR_OPT", "/usr/lib/llvm-22/bin/mlir-opt")


def case_mlir(c):
    """The function of case `c`: a dict with E, K, N and optionally elt
    (bf16|f16), off (i64|i32), chip and kernel (lowering options, see
    lower), trans (transpose_rhs), extents ([(K_g, N_g)]),
    bias (its float type; separate weights get one each), layout (interleaved|concatenated|separate|
    plain_act: a fused activation), act, alpha, beta, limit, combine (k:
    a weighted combine after the matmul), and bits (packed QMoE weights
    [E, N, K * bits / 8] dequantized into the transposed rhs) with block
    (block size; none: per-row scales), scale (their type) and zp (packed
    zero points)."""
    E, K, N = c["E"], c["K"], c["N"]
    elt = c.get("elt", "bf16")
    bits = c.get("bits")
    trans = c.get("trans", False) or bool(bits)
    w_type = f"tensor<{E}x{N}x{K}x{elt}>" if trans else f"tensor<{E}x{K}x{N}x{elt}>"
    x_type, y_type = f"tensor<?x{K}x{elt}>", f"tensor<?x{N}x{elt}>"
    off_type = f"tensor<{E + 1}x{c.get('off', 'i64')}>"
    attrs = []
    if trans:
        attrs.append("transpose_rhs")
    if c.get("extents"):
        flat = ", ".join(f"{k}, {n}" for k, n in c["extents"])
        attrs.append(f"group_extents = array<i64: {flat}>")
    attr_text = (" {" + ", ".join(attrs) + "}") if attrs else ""
    layout = c.get("layout")
    weights = ["%w", "%wu"] if layout == "separate" else ["%w"]
    args = [f"%x: {x_type}"]
    dequantize = ""
    if bits:
        # Each weight: packed bytes, scales and zero points, dequantized.
        scale_shape = f"{E}x{N}" + (f"x{-(-K // c['block'])}" if c.get("block") else "")
        scale_type = f"tensor<{scale_shape}x{c.get('scale', 'f16')}>"
        q_type = f"tensor<{E}x{N}x{K * bits // 8}xi8>"
        # Zero points are packed along the scales' last dim.
        if c.get("block"):
            zp_type = f"tensor<{E}x{N}x{-(-(-(-K // c['block'])) * bits // 8)}xi8>"
        else:
            zp_type = f"tensor<{E}x{-(-N * bits // 8)}xi8>"
        block_attr = f", block_size = {c['block']} : i64" if c.get("block") else ""
        for wname in weights:
            q, sc, zp = f"{wname}_q", f"{wname}_s", f"{wname}_zp"
            args += [f"{q}: {q_type}", f"{sc}: {scale_type}"]
            zp_operand, zp_in = "", ""
            if c.get("zp"):
                args.append(f"{zp}: {zp_type}")
                zp_operand, zp_in = f" zero_points({zp})", f", {zp_type}"
            dequantize += (f"  {wname} = moe.dequantize {q}, {sc}{zp_operand} {{bits = {bits} : i64"
                           f"{block_attr}}} : ({q_type}, {scale_type}{zp_in}) -> {w_type}\n")
    else:
        args += [f"{wname}: {w_type}" for wname in weights]
    args.append(f"%off: {off_type}")
    bias_type = f"tensor<{E}x{N}x{c['bias']}>" if c.get("bias") else None
    if bias_type:
        # Separate gate and up weights each have their own bias.
        args += [f"%b: {bias_type}"] + ([f"%bu: {bias_type}"] if layout == "separate" else [])
    slots = c.get("combine")
    if slots:
        args += [f"%map: tensor<?x{slots}xi64>", f"%wt: tensor<?x{slots}xf32>"]
    bias_in = f", {bias_type}" if bias_type else ""

    def matmul(result, weight, bias="%b"):
        bias_operand = f" bias({bias})" if bias_type else ""
        return (f"  {result} = moe.grouped_matmul %x, {weight} offsets(%off){bias_operand}"
                f"{attr_text} : ({x_type}, {w_type}, {off_type}{bias_in}) -> {y_type}\n")
    body = dequantize + matmul("%y", "%w")
    ret, ret_type = "%y", y_type
    act = c.get("act", "silu")
    extra = "".join(f", {k} = {c[k]} : f64" for k in ("alpha", "beta", "limit") if k in c)
    if layout == "separate":
        body += matmul("%u", "%wu", "%bu")
        body += (f"  %a = moe.activation %y, %u {{activation = #moe.activation<{act}>, "
                 f"gate_layout = #moe.gate_layout<separate>{extra}}} : ({y_type}, {y_type}) -> "
                 f"{y_type}\n")
        ret = "%a"
    elif layout in ("interleaved", "concatenated"):
        half = f"tensor<?x{N // 2}x{elt}>"
        body += (f"  %a = moe.activation %y {{activation = #moe.activation<{act}>, "
                 f"gate_layout = #moe.gate_layout<{layout}>{extra}}} : ({y_type}) -> {half}\n")
        ret, ret_type = "%a", half
    elif layout == "plain_act":
        body += (f"  %a = moe.activation %y {{activation = #moe.activation<{act}>{extra}}} : "
                 f"({y_type}) -> {y_type}\n")
        ret = "%a"
    if slots:
        body += (f"  %c = moe.combine {ret}, %map, %wt : ({ret_type}, tensor<?x{slots}xi64>, "
                 f"tensor<?x{slots}xf32>) -> {ret_type}\n")
        ret = "%c"
    return f"func.func @f({', '.join(args)}) -> {ret_type} {{\n{body}  return {ret} : {ret_type}\n}}\n"


def _run(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr}")


def lower(c, workdir, tag):
    """(host file, kernels file) of case `c`, written under `workdir`, for
    its chip (sm_90a unless c["chip"] says sm_80) and, on sm_80, its kernel
    (c["kernel"]: tile, the mma.sync tile kernel, or decode); on sm_90a
    c["wgmma_tile"] = "128x128" keeps the one-warpgroup tile where the
    warp-specialized 128x256 one would be taken, and on sm_80
    c["mma_tile"] = "64x64" the 4-warp tile where the 8-warp 128x128 one
    would be."""
    src = os.path.join(workdir, f"{tag}.mlir")
    with open(src, "w") as f:
        f.write(case_mlir(c))
    options = f"chip={c.get('chip', 'sm_90a')}"
    if c.get("kernel"):
        options += f" kernel={c['kernel']}"
    if c.get("wgmma_tile"):
        options += f" wgmma-tile={c['wgmma_tile']}"
    if c.get("mma_tile"):
        options += f" mma-tile={c['mma_tile']}"
    if c.get("combine"):
        options += " combine=epilogue"
    return lower_file(src, options, workdir, tag)


def lower_file(src, options, workdir, tag, lowering="convert-moe-to-gpu"):
    """(host file, kernels file) of the moe MLIR file `src` lowered with
    --`lowering`=`options` (or moe-gpu-entry-points, the layer entries),
    written under `workdir`."""
    gpu = os.path.join(workdir, f"{tag}.gpu.mlir")
    _run([MOE_OPT, src, f"--{lowering}={options}", "-o", gpu])
    host = os.path.join(workdir, f"{tag}.host.mlir")
    _run([MOE_OPT, gpu, "-mlir-print-op-generic", "-o", host])
    # The gpu.module alone, for upstream mlir-opt (which knows no moe ops).
    lines = open(gpu).read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.strip().startswith("gpu.module"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(i for i in range(start + 1, len(lines))
               if lines[i].startswith(" " * indent + "}")
               and len(lines[i]) - len(lines[i].lstrip()) == indent)
    module = os.path.join(workdir, f"{tag}.kernels.mlir")
    with open(module, "w") as f:
        f.write("module attributes {gpu.container_module} {\n" +
                "\n".join(lines[start:end + 1]) + "\n}\n")
    kernels = os.path.join(workdir, f"{tag}.kernels.generic.mlir")
    _run([MLIR_OPT, module, "--convert-nvgpu-to-nvvm", "-mlir-print-op-generic", "-o", kernels])
    return host, kernels


def mutate_file(path, mutate):
    """Rewrites the file `path` with `mutate` (a fault injected into the
    kernels' text), which must change it."""
    text = open(path).read()
    changed = mutate(text)
    assert changed != text, "the mutation did not apply"
    with open(path, "w") as f:
        f.write(changed)
