"""moe-run end to end: numpy writes the inputs, moe-run lowers the module with
--moe-cpu-pipeline, JIT-compiles and runs it, and numpy checks the outputs.

Each module is small MLIR on tensors (what convert-moe-to-linalg and the ONNX
lowering produce), chosen to cover one property of the runner: dynamic
shapes, reductions, several results, every supported dtype, result
ownership and the benchmark mode.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

BUILD_DIR = os.environ.get("MOE_BUILD_DIR", "/work/main/build")
MOE_RUN = os.path.join(BUILD_DIR, "bin", "moe-run")
MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")

if not os.path.exists(MOE_RUN):
    if "MOE_BUILD_DIR" in os.environ:
        raise RuntimeError(f"{MOE_RUN} is missing; build the moe-run target")
    pytest.skip(f"{MOE_RUN} not built", allow_module_level=True)

RNG = np.random.default_rng(0)


def run(tmp_path, module, inputs, num_outputs, *flags, mlir_name="model.mlir"):
    """Runs moe-run on `module` (text, or a path) and returns the outputs."""
    if os.path.exists(str(module)):
        model = str(module)
    else:
        model = str(tmp_path / mlir_name)
        with open(model, "w") as f:
            f.write(module)
    args = [MOE_RUN, model]
    for i, array in enumerate(inputs):
        path = tmp_path / f"in{i}.npy"
        np.save(path, array)
        args.append(f"--input=@{path}")
    outs = [tmp_path / f"out{j}.npy" for j in range(num_outputs)]
    args += [f"--output=@{p}" for p in outs]
    args += list(flags)
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [np.load(p) for p in outs], proc.stdout


MATMUL = """
func.func @matmul(%a: tensor<?x32xf32>, %b: tensor<32x24xf32>) -> tensor<?x24xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x32xf32>
  %e = tensor.empty(%m) : tensor<?x24xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x24xf32>) -> tensor<?x24xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x32xf32>, tensor<32x24xf32>)
                     outs(%f : tensor<?x24xf32>) -> tensor<?x24xf32>
  return %r : tensor<?x24xf32>
}
"""


@pytest.mark.parametrize("m", [1, 7, 64])
@pytest.mark.parametrize("vectorize", [False, True])
def test_matmul_dynamic_m(tmp_path, m, vectorize):
    a = RNG.standard_normal((m, 32), dtype=np.float32)
    b = RNG.standard_normal((32, 24), dtype=np.float32)
    (y,), _ = run(tmp_path, MATMUL, [a, b], 1, f"--vectorize={str(vectorize).lower()}")
    assert y.shape == (m, 24) and y.dtype == np.float32
    np.testing.assert_allclose(y, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)



@pytest.mark.parametrize("m", [5, 67])
@pytest.mark.parametrize("tiles", ["2,8,4", "3,16,8"])
def test_matmul_tile_sizes(tmp_path, m, tiles):
    # Register tiles other than the defaults (full, partial and peeled tiles
    # of every loop) compute the same product.
    a = RNG.standard_normal((m, 32), dtype=np.float32)
    b = RNG.standard_normal((32, 24), dtype=np.float32)
    (y,), _ = run(tmp_path, MATMUL, [a, b], 1, f"--tile-sizes={tiles}")
    np.testing.assert_allclose(y, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_matmul_tile_sizes_wrong_count(tmp_path):
    model = tmp_path / "model.mlir"
    model.write_text(MATMUL)
    a = RNG.standard_normal((4, 32), dtype=np.float32)
    b = RNG.standard_normal((32, 24), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    result = subprocess.run(
        [MOE_RUN, str(model), f"--input=@{tmp_path / 'a.npy'}",
         f"--input=@{tmp_path / 'b.npy'}", "--tile-sizes=4,16"],
        capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "expected 3 tile sizes, got 2" in result.stderr, result.stderr

BATCH_MATMUL = """
func.func @bmm(%a: tensor<?x?x16xf32>, %b: tensor<?x16x40xf32>) -> tensor<?x?x40xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %e = tensor.dim %a, %c0 : tensor<?x?x16xf32>
  %m = tensor.dim %a, %c1 : tensor<?x?x16xf32>
  %init = tensor.empty(%e, %m) : tensor<?x?x40xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%init : tensor<?x?x40xf32>) -> tensor<?x?x40xf32>
  %r = linalg.batch_matmul ins(%a, %b : tensor<?x?x16xf32>, tensor<?x16x40xf32>)
                           outs(%f : tensor<?x?x40xf32>) -> tensor<?x?x40xf32>
  return %r : tensor<?x?x40xf32>
}
"""


@pytest.mark.parametrize("experts,m", [(1, 1), (3, 17)])
def test_batch_matmul_partial_tiles(tmp_path, experts, m):
    # N = 40 is one full tile of 32 and a static remainder of 8; M has a
    # dynamic remainder: every peeled loop is exercised.
    a = RNG.standard_normal((experts, m, 16), dtype=np.float32)
    b = RNG.standard_normal((experts, 16, 40), dtype=np.float32)
    (y,), _ = run(tmp_path, BATCH_MATMUL, [a, b], 1)
    np.testing.assert_allclose(y, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


SOFTMAX = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @softmax(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %x, %c0 : tensor<?x?xf32>
  %n = tensor.dim %x, %c1 : tensor<?x?xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty(%m) : tensor<?xf32>
  %maxinit = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %max = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x?xf32>) outs(%maxinit : tensor<?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %0 = arith.maximumf %in, %acc : f32
    linalg.yield %0 : f32
  } -> tensor<?xf32>
  %e2 = tensor.empty(%m, %n) : tensor<?x?xf32>
  %exp = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %max : tensor<?x?xf32>, tensor<?xf32>) outs(%e2 : tensor<?x?xf32>) {
  ^bb0(%in: f32, %mx: f32, %out: f32):
    %0 = arith.subf %in, %mx : f32
    %1 = math.exp %0 : f32
    linalg.yield %1 : f32
  } -> tensor<?x?xf32>
  %suminit = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%exp : tensor<?x?xf32>) outs(%suminit : tensor<?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %0 = arith.addf %in, %acc : f32
    linalg.yield %0 : f32
  } -> tensor<?xf32>
  %y = linalg.generic {indexing_maps = [#row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%sum : tensor<?xf32>) outs(%exp : tensor<?x?xf32>) {
  ^bb0(%s: f32, %e: f32):
    %0 = arith.divf %e, %s : f32
    linalg.yield %0 : f32
  } -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}
"""


@pytest.mark.parametrize("shape", [(1, 1), (5, 8), (33, 129)])
def test_softmax_reduction(tmp_path, shape):
    x = RNG.standard_normal(shape, dtype=np.float32) * 4
    (y,), _ = run(tmp_path, SOFTMAX, [x], 1)
    z = x.astype(np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)


TWO_RESULTS = """
func.func @scores(%x: tensor<?x4xf32>) -> (tensor<?xf32>, tensor<?xi64>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0 : i64
  %e0 = tensor.empty(%n) : tensor<?xf32>
  %e1 = tensor.empty(%n) : tensor<?xi64>
  %v0 = linalg.fill ins(%ninf : f32) outs(%e0 : tensor<?xf32>) -> tensor<?xf32>
  %i0 = linalg.fill ins(%zero : i64) outs(%e1 : tensor<?xi64>) -> tensor<?xi64>
  // Arg-max over the expert dimension: value and index, strict > so that
  // ties pick the lower index.
  %r:2 = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>,
                       affine_map<(d0, d1) -> (d0)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x4xf32>) outs(%v0, %i0 : tensor<?xf32>, tensor<?xi64>) {
  ^bb0(%in: f32, %best: f32, %idx: i64):
    %j = linalg.index 1 : index
    %ji = arith.index_cast %j : index to i64
    %gt = arith.cmpf ogt, %in, %best : f32
    %v = arith.select %gt, %in, %best : f32
    %i = arith.select %gt, %ji, %idx : i64
    linalg.yield %v, %i : f32, i64
  } -> (tensor<?xf32>, tensor<?xi64>)
  return %r#0, %r#1 : tensor<?xf32>, tensor<?xi64>
}
"""


@pytest.mark.parametrize("n", [1, 9])
def test_two_results_of_different_dtypes(tmp_path, n):
    x = RNG.standard_normal((n, 4), dtype=np.float32)
    (v, i), _ = run(tmp_path, TWO_RESULTS, [x], 2)
    assert v.dtype == np.float32 and i.dtype == np.int64
    np.testing.assert_array_equal(i, x.argmax(-1))
    np.testing.assert_array_equal(v, x.max(-1))


MASKS = """
#m = affine_map<(d0, d1) -> (d0, d1)>
func.func @masked(%ids: tensor<?x?xi64>, %keep: tensor<?x?xi1>)
    -> (tensor<?x?xi64>, tensor<?x?xi1>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %t = tensor.dim %ids, %c0 : tensor<?x?xi64>
  %k = tensor.dim %ids, %c1 : tensor<?x?xi64>
  %none = arith.constant -1 : i64
  %big = arith.constant 4294967296 : i64
  %e0 = tensor.empty(%t, %k) : tensor<?x?xi64>
  %e1 = tensor.empty(%t, %k) : tensor<?x?xi1>
  %r:2 = linalg.generic {indexing_maps = [#m, #m, #m, #m],
                         iterator_types = ["parallel", "parallel"]}
      ins(%ids, %keep : tensor<?x?xi64>, tensor<?x?xi1>)
      outs(%e0, %e1 : tensor<?x?xi64>, tensor<?x?xi1>) {
  ^bb0(%id: i64, %kp: i1, %o0: i64, %o1: i1):
    %s = arith.addi %id, %big : i64
    %v = arith.select %kp, %s, %none : i64
    %odd = arith.trunci %id : i64 to i1
    %both = arith.andi %odd, %kp : i1
    linalg.yield %v, %both : i64, i1
  } -> (tensor<?x?xi64>, tensor<?x?xi1>)
  return %r#0, %r#1 : tensor<?x?xi64>, tensor<?x?xi1>
}
"""


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (0, 2)])
def test_i64_and_i1_tensors(tmp_path, shape):
    ids = RNG.integers(-(2**40), 2**40, size=shape, dtype=np.int64)
    keep = RNG.random(shape) < 0.5
    (v, both), _ = run(tmp_path, MASKS, [ids, keep], 2)
    assert v.dtype == np.int64 and both.dtype == np.bool_
    assert v.shape == shape and both.shape == shape
    np.testing.assert_array_equal(v, np.where(keep, ids + 2**32, -1))
    np.testing.assert_array_equal(both, (ids & 1).astype(bool) & keep)


ELEMENTWISE = """
func.func @axpb(%x: tensor<?xf32>) -> tensor<?xf32> {
  %two = arith.constant 2.5 : f32
  %one = arith.constant -1.0 : f32
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%x : tensor<?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %two : f32
    %1 = arith.addf %0, %one : f32
    %2 = math.tanh %1 : f32
    linalg.yield %2 : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}
"""


@pytest.mark.parametrize("n", [1, 7, 513])
def test_dynamic_elementwise(tmp_path, n):
    x = RNG.standard_normal(n, dtype=np.float32)
    (y,), _ = run(tmp_path, ELEMENTWISE, [x], 1)
    assert y.shape == (n,)
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64) * 2.5 - 1), rtol=1e-5, atol=1e-6)


def _double_module(elem, add_op):
    return f"""
func.func @twice(%x: tensor<?x?x{elem}>) -> tensor<?x?x{elem}> {{
  %r = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                         affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}}
      ins(%x : tensor<?x?x{elem}>) outs(%x : tensor<?x?x{elem}>) {{
  ^bb0(%in: {elem}, %out: {elem}):
    %0 = {add_op} %in, %in : {elem}
    linalg.yield %0 : {elem}
  }} -> tensor<?x?x{elem}>
  return %r : tensor<?x?x{elem}>
}}
"""


@pytest.mark.parametrize("elem,dtype,add_op", [
    ("f64", np.float64, "arith.addf"),
    ("f16", np.float16, "arith.addf"),
    ("i32", np.int32, "arith.addi"),
    ("i8", np.int8, "arith.addi"),
    ("i16", np.int16, "arith.addi"),
])
def test_dtypes_round_trip(tmp_path, elem, dtype, add_op):
    if np.issubdtype(dtype, np.floating):
        x = RNG.standard_normal((3, 5)).astype(dtype)
    else:
        x = RNG.integers(-50, 50, size=(3, 5)).astype(dtype)
    (y,), _ = run(tmp_path, _double_module(elem, add_op), [x], 1)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, x + x)


def _bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (finite inputs)."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def test_bf16_travels_as_uint16_bits(tmp_path):
    x = _bf16_bits(RNG.standard_normal((4, 6)).astype(np.float32))
    module = _double_module("bf16", "arith.mulf")
    (y,), _ = run(tmp_path, module, [x], 1)
    assert y.dtype == np.uint16
    np.testing.assert_array_equal(y, _bf16_bits(_bf16_to_f32(x) ** 2))


def test_inputs_are_read_only_and_results_owned(tmp_path):
    # The generic writes its `outs` operand, which is the argument: tensor
    # semantics say %x is unchanged, so the second result must equal the input
    # even though the buffer of %x could have been reused in place.
    module = """
func.func @f(%x: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>) {
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%x : tensor<?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<?xf32>
  return %r, %x : tensor<?xf32>, tensor<?xf32>
}
"""
    x = RNG.standard_normal(10, dtype=np.float32)
    (y, same), out = run(tmp_path, module, [x], 2, "--benchmark-repetitions=3")
    np.testing.assert_array_equal(y, x + x)
    np.testing.assert_array_equal(same, x)


# Runs argv[1:] and prints its peak RSS in KiB. A child forked from the
# pytest process starts with pytest's resident pages counted in its peak
# (exec records the old address space's high-water mark), so the command is
# started from this small interpreter instead.
PEAK_RSS = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_results_are_freed(tmp_path):
    # 300 calls returning 4 MiB each would hold 1.2 GiB if results leaked.
    model = tmp_path / "model.mlir"
    model.write_text(ELEMENTWISE)
    np.save(tmp_path / "in0.npy", np.zeros(1 << 20, dtype=np.float32))
    r = subprocess.run([sys.executable, "-c", PEAK_RSS, MOE_RUN, str(model),
                        f"--input=@{tmp_path / 'in0.npy'}",
                        f"--output=@{tmp_path / 'out0.npy'}",
                        "--benchmark-repetitions=300"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    peak = int(r.stdout)
    assert peak < 400 * 1024, f"max RSS {peak} KiB"


def test_benchmark_line(tmp_path):
    a = RNG.standard_normal((16, 32), dtype=np.float32)
    b = RNG.standard_normal((32, 24), dtype=np.float32)
    _, out = run(tmp_path, MATMUL, [a, b], 1, "--benchmark-repetitions=5")
    assert re.fullmatch(
        r"benchmark: @matmul repetitions=5 median_ms=\d+\.\d{6} min_ms=\d+\.\d{6} "
        r"median_cpu_ms=\d+\.\d{6} min_cpu_ms=\d+\.\d{6}\n", out), out


def test_default_function_and_lowered_inputs(tmp_path):
    # Among several public functions main_graph (the ONNX name) is the
    # default; private functions are never entry points.
    module = """
func.func private @helper(%x: tensor<?xf32>) -> tensor<?xf32> {
  %r = linalg.add ins(%x, %x : tensor<?xf32>, tensor<?xf32>) outs(%x : tensor<?xf32>) -> tensor<?xf32>
  return %r : tensor<?xf32>
}
func.func @other(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}
func.func @main_graph(%x: tensor<?xf32>) -> tensor<?xf32> {
  %r = func.call @helper(%x) : (tensor<?xf32>) -> tensor<?xf32>
  return %r : tensor<?xf32>
}
"""
    source = tmp_path / "model.mlir"
    source.write_text(module)
    x = RNG.standard_normal(6, dtype=np.float32)
    (y,), _ = run(tmp_path, source, [x], 1)
    np.testing.assert_array_equal(y, x + x)

    # Already lowered (text and bytecode): moe-run skips the pipeline and
    # reads the signature from moe.entry_signature.
    lowered = tmp_path / "lowered.mlir"
    subprocess.run([MOE_OPT, str(source), "--moe-cpu-pipeline", "-o", str(lowered)], check=True)
    (y,), _ = run(tmp_path, lowered, [x], 1, "--function=main_graph")
    np.testing.assert_array_equal(y, x + x)
    bytecode = tmp_path / "lowered.mlirbc"
    subprocess.run([MOE_OPT, str(lowered), "--emit-bytecode", "-o", str(bytecode)], check=True)
    (y,), _ = run(tmp_path, bytecode, [x], 1, "--function=other")
    np.testing.assert_array_equal(y, x)


def test_results_without_output_are_summarized(tmp_path):
    x = RNG.standard_normal((3, 4), dtype=np.float32)
    _, out = run(tmp_path, TWO_RESULTS, [x], 1)
    assert out == "result[1]: 3 int64 ('<i8')\n"


def test_shape_mismatch_exits_1(tmp_path):
    a = np.zeros((3, 31), np.float32)
    b = np.zeros((32, 24), np.float32)
    model = tmp_path / "m.mlir"
    model.write_text(MATMUL)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    proc = subprocess.run([MOE_RUN, str(model), f"--input=@{tmp_path / 'a.npy'}",
                           f"--input=@{tmp_path / 'b.npy'}"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "dimension 1 is 31 (shape 3x31) but must be 32" in proc.stderr
