"""Build and drive the standalone CUDA harness of the fused SSM kernel (ausm/export/plugin/ssm_harness.cu).

No TensorRT and no CUDA build of PyTorch are needed: the harness is compiled with nvcc
and exchanges plain binary files with Python. Used by test/test_cuda_kernel_build.py
(compile in CI, CPU numerics, GPU numerics when a GPU is visible), bench/ssm_kernel.py,
bench/gpu_suite.py and bench/backends.py (``from bench import kernel_harness``). Shared by
the benchmarks and the tests, not part of the installed packages.
"""

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import torch

import ausm.export
from ausm.export import ssm_op

PLUGIN_DIR = Path(ausm.export.__file__).resolve().parent / "plugin"
KERNEL_SOURCE = PLUGIN_DIR / "selective_state_update_kernel.cu"
HARNESS_SOURCE = PLUGIN_DIR / "ssm_harness.cu"
PLUGIN_SOURCE = PLUGIN_DIR / "selective_state_update_plugin.cpp"
# Ampere (A100, sm_80), Jetson Orin (sm_87), Hopper (sm_90): the GPUs this package targets.
DEFAULT_ARCHS = ("80", "87", "90")
NO_GPU_EXIT = 3
IN_MAGIC, OUT_MAGIC = b"AUSMSSU1", b"AUSMSSO1"


class HarnessError(RuntimeError):
    pass


def find_nvcc():
    """nvcc on PATH, else under $CUDA_HOME or /usr/local/cuda; None when absent."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / "nvcc").exists():
            return str(Path(root) / "bin" / "nvcc")
    return None


def gencode_flags(archs=DEFAULT_ARCHS):
    return [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]


def _nvcc(args, nvcc=None):
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise HarnessError("nvcc not found (PATH, $CUDA_HOME, /usr/local/cuda): install the CUDA toolkit")
    proc = subprocess.run([nvcc, "-std=c++17", "-O3", *args], capture_output=True, text=True)
    if proc.returncode:
        raise HarnessError(f"nvcc failed ({' '.join(args)}):\n{proc.stderr}")
    return proc


def compile_kernel(out_dir, archs=DEFAULT_ARCHS, nvcc=None):
    """``nvcc -c`` of the kernel alone for ``archs``. Returns the object file."""
    obj = Path(out_dir) / "selective_state_update_kernel.o"
    _nvcc(["-c", str(KERNEL_SOURCE), "-o", str(obj), *gencode_flags(archs)], nvcc)
    return obj


def build_harness(out_dir, archs=DEFAULT_ARCHS, nvcc=None, kernel_object=None):
    """Compile (or reuse ``kernel_object``) and link the harness. Returns the executable."""
    out_dir = Path(out_dir)
    obj = kernel_object or compile_kernel(out_dir, archs, nvcc)
    main_obj = out_dir / "ssm_harness.o"
    # host code only: one architecture is enough for the harness's own object
    _nvcc(["-c", str(HARNESS_SOURCE), "-o", str(main_obj), f"-I{PLUGIN_DIR}", *gencode_flags(archs[:1])], nvcc)
    exe = out_dir / "ssm_harness"
    _nvcc([str(main_obj), str(obj), "-o", str(exe), *gencode_flags(archs)], nvcc)
    return exe


def write_inputs(path, inputs, gate=1, dt_min=0.0, dt_max=float("inf")):
    """inputs: dict of the node's inputs (ssm_op.INPUTS, 4-D state layout), torch or numpy."""
    as_np = lambda v: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v
    arr = {k: np.ascontiguousarray(as_np(inputs[k]), dtype=np.float32) for k in ssm_op.INPUTS}
    b, h, p, n = arr["state"].shape
    with open(path, "wb") as f:
        f.write(IN_MAGIC + struct.pack("<qiiiiff", b, h, p, n, int(gate), dt_min, dt_max))
        for k in ssm_op.INPUTS:
            f.write(arr[k].tobytes())
    return arr["state"].shape


def read_outputs(path, state_shape):
    raw = Path(path).read_bytes()
    if raw[:8] != OUT_MAGIC:
        raise HarnessError(f"{path} is not a harness output file")
    data = np.frombuffer(raw[8:], dtype=np.float32)
    rows = int(np.prod(state_shape[:3]))
    y = data[:rows].reshape(state_shape[:3])
    state = data[rows:].reshape(state_shape)
    return torch.from_numpy(y.copy()), torch.from_numpy(state.copy())


def run(exe, inputs, work_dir, cpu=False, **attrs):
    """Run the harness on ``inputs``: (y, new_state), or None when no GPU is visible."""
    work_dir = Path(work_dir)
    shape = write_inputs(work_dir / "in.bin", inputs, **attrs)
    cmd = [str(exe), "run", str(work_dir / "in.bin"), str(work_dir / "out.bin")] + (["--cpu"] if cpu else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == NO_GPU_EXIT and not cpu:
        return None
    if proc.returncode:
        raise HarnessError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
    return read_outputs(work_dir / "out.bin", shape)


def gpu_info(exe):
    """{'gpu': name, 'cc', 'peak_bytes_per_s'} or None without a visible GPU."""
    proc = subprocess.run([str(exe), "info"], capture_output=True, text=True)
    info = json.loads(proc.stdout or "{}")
    return info if proc.returncode == 0 and info.get("gpu") else None


def bench(exe, state_shape, iters=200):
    proc = subprocess.run([str(exe), "bench", *map(str, state_shape), str(iters)], capture_output=True, text=True)
    if proc.returncode == NO_GPU_EXIT:
        return None
    if proc.returncode:
        raise HarnessError(f"harness bench failed: {proc.stderr}")
    return json.loads(proc.stdout)


def mamba1_case(d_model=64, d_state=16, batch=300, seed=0):
    """A Mamba-1 twin, one input step and a non-zero state, plus the node inputs the twin
    would compute from them. Returns (module, u, state, node inputs, node attrs)."""
    from ausm.export.ssm_step import mamba1_core_inputs, to_node_layout
    from ausm.ssm import Mamba

    torch.manual_seed(seed)
    m = Mamba(d_model, d_state=d_state).eval()
    conv, ssm = m.allocate_state(batch)
    state = (torch.randn_like(conv), torch.randn_like(ssm))
    u = torch.randn(batch, d_model)
    with torch.no_grad():
        inputs, attrs, _, _ = mamba1_core_inputs(m, u, state[0])
        inputs = {k: v.contiguous() for k, v in inputs.items()}
    inputs["state"] = to_node_layout(m, state[1]).contiguous()
    return m, u, state, inputs, attrs


def find_tensorrt_include():
    """Directory holding NvInferRuntime.h: $TENSORRT_INCLUDE_DIR, $TENSORRT_ROOT/include, or
    the system locations TensorRT's packages (and JetPack) install to; None when absent."""
    candidates = [os.environ.get("TENSORRT_INCLUDE_DIR")]
    if os.environ.get("TENSORRT_ROOT"):
        candidates.append(os.path.join(os.environ["TENSORRT_ROOT"], "include"))
    candidates += [
        "/usr/include/x86_64-linux-gnu",
        "/usr/include/aarch64-linux-gnu",
        "/usr/include",
        "/usr/local/tensorrt/include",
        "/opt/tensorrt/include",
    ]
    for c in candidates:
        if c and (Path(c) / "NvInferRuntime.h").exists():
            return c
    return None


def compile_plugin(out_dir, include_dir, nvcc=None):
    """``nvcc -c`` of the TensorRT plugin source against the headers in ``include_dir``."""
    obj = Path(out_dir) / "selective_state_update_plugin.o"
    _nvcc(
        [
            "-c",
            str(PLUGIN_SOURCE),
            "-o",
            str(obj),
            f"-I{include_dir}",
            f"-I{PLUGIN_DIR}",
            "-Xcompiler",
            "-Wall,-Wno-deprecated-declarations",
        ],
        nvcc,
    )
    return obj
