"""Everything this project wants measured on a GPU, in one command for one H100/H200.

    python bench/gpu_suite.py [--out bench/results] [--budget-s 480]
    python bench/gpu_suite.py --dry-run --out /tmp/suite     # every part, tiny sizes, CPU (CI)

Parts, in order (each is timed, each failure is recorded and the suite goes on; the
results are rewritten after every part, so a suite cut short still leaves its numbers):
  kernel        the fused CUDA SSM kernel (nvcc, this GPU's architecture) against the
                PyTorch twin (max error, fp32 state), and its bandwidth as a fraction of a
                device-to-device copy measured in the same run
  mamba_ssm     mamba-ssm's kernels against our twins: the Triton SSD scan (Mamba-2) and
                the Mamba2 module (same weights), selective_scan (Mamba-1) when its CUDA
                build is there
  train_speed   parallel (teacher forcing) vs iterative training s/iter at 1-16 frames,
                tiny and swin_t, measured side by side
  session       session.step frames/s for tiny and swin_t at 640x480, fp32 and bf16 (state
                fp32), and memory over 10,000 frames
  tensorrt_rtx  build a TensorRT-RTX engine and try to run it on this GPU, reporting what
                happens (Hopper is not a TensorRT-RTX target)
Writes <out>/gpu_suite.json and gpu_suite.md (gpu_suite-dry-run.* with --dry-run).

The whole suite keeps to --budget-s (default 480 s = 8 min, compilation included): parts
that would start with too little time left are skipped and say so. On the GPU machine
mamba-ssm comes from a wheel or sdist carried in (MAMBA_SKIP_CUDA_BUILD=TRUE gives its
Triton kernels), and TensorRT-RTX from its two wheels.
"""

import argparse
import importlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ausm import AUSM, build_model, load_config  # noqa: E402
from ausm.export import ssm_op  # noqa: E402
from ausm.runtimes import TorchStepRunner  # noqa: E402
from ausm.session import StreamSession  # noqa: E402
from bench import kernel_harness as kh  # noqa: E402

PARTS = ("kernel", "mamba_ssm", "train_speed", "session", "tensorrt_rtx")


class Suite:
    def __init__(self, dry_run: bool, out: Path, budget_s: float):
        self.dry = dry_run
        self.out = out
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + budget_s
        self.budget_s = budget_s
        self.gpu = torch.cuda.is_available() and not dry_run
        self.device = torch.device("cuda" if self.gpu else "cpu")
        self.tmp = Path(tempfile.mkdtemp(prefix="ausm_gpu_suite_"))
        self.results: Dict = {
            "suite": "bench/gpu_suite.py",
            "dry_run": dry_run,
            "host": host_info(),
            "budget_s": budget_s,
            "missing": preflight(),
            "parts": {},
        }

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def sync(self):
        if self.gpu:
            torch.cuda.synchronize()

    def run_part(self, name: str, fn: Callable, needs_s: float):
        if self.left() < needs_s:
            self.results["parts"][name] = {
                "status": "skipped",
                "why": f"{self.left():.0f} s left of the budget, the part needs about {needs_s:.0f} s",
            }
            self.write()
            return
        t = time.perf_counter()
        print(f"[gpu_suite] {name} ({self.left():.0f} s left)", flush=True)
        try:
            res = {"status": "ok", "result": fn(self)}
        except Exception as e:  # one part failing must not lose the others' numbers
            res = {"status": "error", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=6)}
        res["seconds"] = round(time.perf_counter() - t, 2)
        self.results["parts"][name] = res
        print(f"[gpu_suite] {name}: {res['status']} in {res['seconds']} s", flush=True)
        self.write()

    def write(self):
        self.results["elapsed_s"] = round(time.perf_counter() - self.t0, 2)
        stem = "gpu_suite-dry-run" if self.dry else "gpu_suite"
        self.out.mkdir(parents=True, exist_ok=True)
        for suffix, text in (
            (".json", json.dumps(self.results, indent=2, default=str) + "\n"),
            (".md", markdown(self.results)),
        ):
            path = self.out / (stem + suffix)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)  # a reader (or a cut-short run) never sees half a file


# what each part imports beyond torch and the project: a missing one is named up front (the GPU
# machine has no package registry, so whatever is missing must be brought as wheels)
PART_NEEDS = {
    "kernel": [],
    "mamba_ssm": ["mamba_ssm", "triton", "einops"],
    "train_speed": ["scipy", "pycocotools", "PIL", "cv2"],
    "session": [],
    "tensorrt_rtx": ["onnx", "tensorrt_rtx_bindings", "tensorrt_rtx_libs"],
}


def preflight() -> Dict:
    """Per part: the Python packages it needs that are missing here, and nvcc for the kernel."""
    out = {}
    for part, mods in PART_NEEDS.items():
        out[part] = [m for m in mods if importlib.util.find_spec(m) is None]
    if kh.find_nvcc() is None:
        out["kernel"].append("nvcc (CUDA toolkit)")
    return out


def host_info() -> Dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor(),
        "cpus": os.cpu_count(),
        "cuda": torch.version.cuda,
        "gpu": None,
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(
            gpu=p.name, compute_capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1)
        )
    return info


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double().cpu() - b.double().cpu()).abs().max())


def cuda_time(fn: Callable, reps: int, gpu: bool) -> float:
    """Seconds per call: CUDA events on a GPU, perf_counter on the CPU."""
    fn()
    if gpu:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3 / reps
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


# -- kernel ----------------------------------------------------------------------------------------


def part_kernel(s: Suite) -> Dict:
    if kh.find_nvcc() is None:
        raise RuntimeError("nvcc not found (PATH, $CUDA_HOME, /usr/local/cuda)")
    if s.gpu:
        major, minor = torch.cuda.get_device_capability(0)
        archs = (f"{major}{minor}",)
    else:
        archs = kh.DEFAULT_ARCHS[:1]  # the dry run only proves it compiles
    t = time.perf_counter()
    exe = kh.build_harness(s.tmp, archs)
    out: Dict = {"archs": list(archs), "compile_s": round(time.perf_counter() - t, 1)}
    on_gpu = kh.gpu_info(exe) is not None
    out["ran_on"] = "gpu" if on_gpu else "cpu (the harness's host reference of the kernel math)"
    # numerics: Mamba-1 twin (its step) and the node's general (Mamba-2) layout
    batch = 4096 if s.gpu else 64
    m, u, state, inputs, attrs = kh.mamba1_case(d_model=64, d_state=16, batch=batch)
    y_node, s_node = kh.run(exe, inputs, s.tmp, cpu=not on_gpu, **attrs)
    with torch.no_grad():
        y_ref, (_, s_ref) = m.step(u, state)
        y = m.out_proj(y_node.squeeze(1))
    out["mamba1_vs_twin"] = {
        "max_abs_err_y": max_err(y, y_ref),
        "max_abs_err_state": max_err(s_node.squeeze(1), s_ref),
        "state_dtype": str(s_node.dtype),
    }
    g = torch.Generator().manual_seed(1)
    r = lambda *shape: torch.randn(*shape, generator=g)
    b, h, p, n = (2048 if s.gpu else 37), 4, 64, 128
    node = dict(
        state=r(b, h, p, n),
        x=r(b, h, p),
        dt=r(b, h, p),
        A=-torch.rand(h, p, n, generator=g),
        B=r(b, h, n),
        C=r(b, h, n),
        D=r(h, p),
        z=r(b, h, p),
        dt_bias=r(h, p),
    )
    nattrs = {"gate": 0, "dt_min": 0.0, "dt_max": float("inf")}
    y2, s2 = kh.run(exe, node, s.tmp, cpu=not on_gpu, **nattrs)
    ry, rs = ssm_op.selective_state_update(**node, **nattrs)
    out["mamba2_layout_vs_reference"] = {
        "shape": [b, h, p, n],
        "max_abs_err_y": max_err(y2, ry),
        "max_abs_err_state": max_err(s2, rs),
    }
    # bandwidth against a device-to-device copy timed in this same run
    import ssm_kernel as bench_kernel

    camera = (480, 640) if s.gpu else (48, 64)
    copy_bytes = (1 << 30) if s.gpu else (8 << 20)
    src = torch.empty(copy_bytes // 4, dtype=torch.float32, device=s.device).uniform_()
    dst = torch.empty_like(src)
    sec = cuda_time(lambda: dst.copy_(src), 20 if s.gpu else 3, s.gpu)
    copy_bps = 2 * copy_bytes / sec  # read + written, as the kernel's bytes are counted
    out["copy"] = {"bytes": copy_bytes, "bytes_per_s": copy_bps, "on": str(s.device)}
    rows = []
    for name in ("tiny", "swin_t"):
        hw, shape = bench_kernel.state_shape(name, camera)
        r_ = kh.bench(exe, shape, 200) if on_gpu else None
        row = {
            "config": name,
            "model_input": list(hw),
            "state_shape": list(shape),
            "state_mib": round(4 * float(np.prod(shape)) / 2**20, 2),
        }
        if r_ is None:
            row["kernel"] = "not timed: needs a GPU"
        else:
            row.update(
                kernel_us=r_["time_us"],
                kernel_bytes_per_s=r_["bytes_per_s"],
                fraction_of_copy=r_["bytes_per_s"] / copy_bps,
                fraction_of_peak=r_.get("fraction_of_peak"),
            )
        rows.append(row)
    out["bandwidth"] = rows
    return out


# -- mamba-ssm -------------------------------------------------------------------------------------


def import_mamba_ssm():
    """(package, how) or raise ImportError. A Triton-only install (MAMBA_SKIP_CUDA_BUILD) has
    no selective_scan_cuda, which mamba_ssm/__init__ imports: then the package is entered
    without its __init__ so the Triton modules still load."""
    try:
        return importlib.import_module("mamba_ssm"), "full build"
    except ImportError as e:
        spec = importlib.util.find_spec("mamba_ssm")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"mamba_ssm is not installed ({e})") from e
        for k in [k for k in sys.modules if k == "mamba_ssm" or k.startswith("mamba_ssm.")]:
            del sys.modules[k]
        pkg = types.ModuleType("mamba_ssm")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["mamba_ssm"] = pkg
        return pkg, f"Triton only ({e})"


def part_mamba_ssm(s: Suite) -> Dict:
    from ausm.ssm import dispatch
    from ausm.ssm.mamba2 import Mamba2
    from ausm.ssm.scans import ssd_scan_torch

    out: Dict = {"our_dispatch_uses": dispatch.backend_name(s.device)}
    torch.manual_seed(0)
    b, l, h, p, n, chunk = (2, 256, 8, 64, 128, 64) if s.gpu else (1, 16, 2, 8, 16, 8)
    dev = s.device
    x, dt = torch.randn(b, l, h, p, device=dev), torch.randn(b, l, h, device=dev)
    A = -torch.rand(h, device=dev) - 0.5
    Bm, Cm = torch.randn(b, l, 1, n, device=dev), torch.randn(b, l, 1, n, device=dev)
    D, dt_bias, h0 = torch.randn(h, device=dev), torch.randn(h, device=dev), torch.randn(b, h, p, n, device=dev)
    ours_y, ours_h = ssd_scan_torch(x, dt, A, Bm, Cm, D, dt_bias, (0.0, float("inf")), h0, chunk)
    try:
        if not s.gpu:
            raise ImportError("dry run: mamba-ssm's kernels need CUDA")
        pkg, how = import_mamba_ssm()
        out["mamba_ssm"] = {"how": how, "version": getattr(importlib.import_module("mamba_ssm"), "__version__", None)}
    except ImportError as e:
        out["mamba_ssm"] = {"how": f"unavailable: {e}"}
        # the dry run still exercises the comparison: our chunked scan against our step loop
        m = Mamba2(32, d_state=16, headdim=8).to(dev).eval()
        u = torch.randn(1, 12, 32, device=dev)
        with torch.no_grad():
            y_par, (_, h_par) = m(u)
            st = m.allocate_state(1, dev)
            ys = []
            for t in range(u.shape[1]):
                y_t, st = m.step(u[:, t], st)
                ys.append(y_t)
        out["twin_parallel_vs_step"] = {
            "max_abs_err_y": max_err(y_par, torch.stack(ys, 1)),
            "max_abs_err_state": max_err(h_par, st[1]),
        }
        return out
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

    ref_y, ref_h = mamba_chunk_scan_combined(
        x,
        dt,
        A,
        Bm,
        Cm,
        chunk,
        D=D,
        z=None,
        dt_bias=dt_bias,
        initial_states=h0,
        dt_softplus=True,
        return_final_states=True,
    )
    out["ssd_scan"] = {
        "shape": [b, l, h, p, n],
        "max_abs_err_y": max_err(ours_y, ref_y),
        "max_abs_err_state": max_err(ours_h, ref_h),
        "state_dtype": str(ref_h.dtype),
    }
    # module level: mamba_ssm.Mamba2 and our twin with the same parameters (names are shared)
    from mamba_ssm.modules.mamba2 import Mamba2 as RefMamba2

    d_model = 256
    ref = RefMamba2(d_model, d_state=64, headdim=64, use_mem_eff_path=False, device=dev).eval()
    ours = Mamba2(d_model, d_state=64, headdim=64).to(dev).eval()
    missing = ours.load_state_dict(ref.state_dict(), strict=False)
    u = torch.randn(2, 128, d_model, device=dev)
    with torch.no_grad():
        y_ref = ref(u)
        y_ours, (conv, ssm) = ours(u)
    out["module_forward"] = {
        "max_abs_err_y": max_err(y_ours, y_ref),
        "rel_err": max_err(y_ours, y_ref) / float(y_ref.abs().max()),
        "missing_or_unexpected": [list(missing.missing_keys), list(missing.unexpected_keys)],
    }
    try:  # the streaming step: mamba_ssm's Triton selective_state_update vs our twin's step
        conv_r, ssm_r = ref.allocate_inference_cache(2, 16)
        conv_o, ssm_o = ours.allocate_state(2, dev)
        conv_r.zero_(), ssm_r.zero_()
        errs = []
        with torch.no_grad():
            for t in range(8):
                y_r, conv_r, ssm_r = ref.step(u[:, t : t + 1], conv_r, ssm_r)
                y_o, (conv_o, ssm_o) = ours.step(u[:, t], (conv_o, ssm_o))
                errs.append(max_err(y_o, y_r.squeeze(1)))
        out["module_step"] = {
            "steps": 8,
            "max_abs_err_y": max(errs),
            "max_abs_err_state": max_err(ssm_o, ssm_r),
            "state_dtype": str(ssm_r.dtype),
        }
    except Exception as e:
        out["module_step"] = f"{type(e).__name__}: {e}"
    try:  # Mamba-1's scan needs the compiled extension; a Triton-only install has none
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401

        out["mamba1_selective_scan"] = "available (not compared here)"
    except ImportError as e:
        out["mamba1_selective_scan"] = f"unavailable: {e}"
    return out


# -- training speed --------------------------------------------------------------------------------


def part_train_speed(s: Suite) -> Dict:
    import train_speed as ts

    from ausm_train.train.config import LossConfig, TeacherForcingConfig
    from ausm_train.train.iterative import forward_iterative
    from ausm_train.train.losses import SetCriterion
    from ausm_train.train.teacher_forcing import teacher_force

    plans = (
        [("tiny", (256, 256), (1, 2, 4, 8, 16)), ("swin_t", (256, 256), (1, 2, 4, 8, 16))]
        if s.gpu
        else [("tiny", (64, 64), (1, 2)), ("swin_t", (64, 64), (1,))]
    )
    iters = 3 if s.gpu else 1
    rows = []
    for name, hw, lengths in plans:
        torch.manual_seed(0)
        model = build_model(name, input_size=list(hw)).to(s.device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        crit = SetCriterion(LossConfig())
        longest = ts.clips_of(max(lengths), 1, hw)
        tf = TeacherForcingConfig(prompt_prob=0.5, never_track_prob=0.0)
        for T in lengths:
            if s.left() < 200 and rows:  # keep time for session.step and TensorRT-RTX
                rows.append({"config": name, "frames": T, "skipped": "budget"})
                continue
            clips = [c.select_frames(range(T)) for c in longest]
            frames = (
                torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 1, 4, 2, 3).to(s.device).float() / 255
            )
            history, targets, _ = teacher_force(clips, model.config.num_ids, np.random.default_rng(T), tf, s.device)
            par = ts.time_mode(
                model, opt, crit, lambda m, f, h: m.forward_clip(f, h), frames, history, targets, iters, s.sync
            )
            it = ts.time_mode(model, opt, crit, forward_iterative, frames, history, targets, iters, s.sync)
            rows.append(
                {
                    "config": name,
                    "size": list(hw),
                    "frames": T,
                    "parallel_s": par,
                    "iterative_s": it,
                    "speedup": it / par,
                }
            )
        del model, opt
    return {
        "device": str(s.device),
        "iters": iters,
        "rows": rows,
        "paper": "Swin-B, 16 frames: 3.45 s/iter parallel vs 8.75 s/iter iterative (2.5x)",
    }


# -- session.step ----------------------------------------------------------------------------------


def session_frames(camera_hw, count=32):
    from stream_scaling import synthetic_frame

    h, w = camera_hw
    return [synthetic_frame(t, w, h) for t in range(count)]  # cycled: synthesis is not timed


def memory_now(s: Suite) -> Dict:
    from stream_scaling import rss_mib

    m = {"rss_mib": round(rss_mib(), 1)}
    if s.gpu:
        m.update(
            cuda_allocated_mib=round(torch.cuda.memory_allocated() / 2**20, 1),
            cuda_max_allocated_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1),
        )
    return m


def part_session(s: Suite) -> Dict:
    camera = (480, 640) if s.gpu else (48, 64)
    frames = session_frames(camera)
    n_timed, warm = (200, 10) if s.gpu else (2, 1)
    # the configs' own input sizes on the GPU; the dry run shrinks the model input too
    small = {} if s.gpu else {"input_size": [64, 64]}
    rows = []
    for name in ("tiny", "swin_t"):
        torch.manual_seed(0)
        model = AUSM(load_config(name, **small)).to(s.device).eval()
        for precision in ("fp32", "bf16"):
            # bf16: the torch runner under autocast; the SSM keeps fp32 and so does the state
            sess = (
                StreamSession(model)
                if precision == "fp32"
                else StreamSession(TorchStepRunner(model, autocast=torch.bfloat16))
            )
            times = []
            with torch.no_grad():
                for t in range(warm + n_timed):
                    s.sync()
                    t0 = time.perf_counter()
                    sess.step(frames[t % len(frames)])
                    s.sync()
                    if t >= warm:
                        times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            rows.append(
                {
                    "config": name,
                    "precision": precision,
                    "camera": f"{camera[1]}x{camera[0]}",
                    "model_input": list(sess.model_hw),
                    "frames": n_timed,
                    "median_ms": 1e3 * med,
                    "fps": 1 / med,
                    "state_dtypes": sorted({str(x.dtype) for x in sess._state}),
                }
            )
        del model
    # memory over a long stream (tiny, fp32)
    total = 10000 if s.gpu else 30
    marks = (100, 1000, 10000) if s.gpu else (10, 20, 30)
    torch.manual_seed(0)
    model = AUSM(load_config("tiny", **small)).to(s.device).eval()
    sess = StreamSession(model)
    if s.gpu:
        torch.cuda.reset_peak_memory_stats()
    mem, reached, t0 = [], 0, time.perf_counter()
    with torch.no_grad():
        for t in range(1, total + 1):
            sess.step(frames[t % len(frames)])
            reached = t
            if t in marks:
                s.sync()
                mem.append({"frame": t, **memory_now(s), "elapsed_s": round(time.perf_counter() - t0, 1)})
            if t % 100 == 0 and s.left() < 45:  # keep time for the TensorRT-RTX part
                break  # the budget ends the long stream; the marks reached are kept
    return {
        "step": rows,
        "long_stream": {
            "config": "tiny",
            "precision": "fp32",
            "frames_wanted": total,
            "frames_run": reached,
            "memory": mem,
        },
    }


# -- TensorRT-RTX ----------------------------------------------------------------------------------


def part_tensorrt_rtx(s: Suite) -> Dict:
    from ausm.checkpoint import load_checkpoint
    from ausm.export import tensorrt_rtx as rtx
    from ausm.export.onnx_cache import cached_step_onnx

    trt = rtx.import_tensorrt_rtx()
    ckpt = ROOT / "ausm" / "checkpoints" / "demo_tiny.safetensors"
    model = load_checkpoint(str(ckpt)).eval()
    # the checkpoint's own input size; a config without one gets the camera size (GPU) or a small one
    hw = None if model.config.input_size else ((480, 640) if s.gpu else (128, 128))
    onnx_path = cached_step_onnx(model, hw, cache_dir=s.tmp / "onnx")
    t = time.perf_counter()
    res = rtx.build_rtx_engine(onnx_path, cache_dir=s.tmp / "engines", targets="all", force_rebuild=True)
    out: Dict = {
        "tensorrt_rtx": trt.__version__,
        "engine": res.path.name,
        "targets": list(res.key.targets),
        "build_s": round(res.build_seconds, 2),
        "build_and_export_s": round(time.perf_counter() - t, 2),
        "engine_mib": round(res.size_bytes / 2**20, 2),
    }
    if not s.gpu:
        out["run"] = "not attempted: no GPU (dry run)"
        return out
    cc = f"{torch.cuda.get_device_capability(0)[0]}.{torch.cuda.get_device_capability(0)[1]}"
    out["gpu_cc"] = cc
    out["gpu_is_a_target"] = rtx.is_rtx_target(cc)
    from ausm.runtimes.tensorrt_rtx_runner import TensorRTRtxEngine

    try:
        TensorRTRtxEngine(res.path, model.cuda())
        out["engine_with_target_check"] = "loaded"
    except Exception as e:
        out["engine_with_target_check"] = f"{type(e).__name__}: {e}"
    try:  # what TensorRT-RTX itself does on this GPU, past our own check
        t = time.perf_counter()
        eng = TensorRTRtxEngine(res.path, model.cuda(), check_target=False)
        out["deserialize_s"] = round(time.perf_counter() - t, 2)
        hw = tuple(eng.spec.input_hw)
        frames = session_frames((hw[0], hw[1]), 8)
        ref, sess = StreamSession(model), StreamSession(eng.new_runner())
        agree, times = [], []
        for i in range(30):
            f = frames[i % len(frames)]
            a = ref.step(f)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            b = sess.step(f)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            agree.append(
                bool(np.array_equal(a.track_ids, b.track_ids))
                and all(float((x == y).mean()) > 0.99 for x, y in zip(a.masks, b.masks))
            )
        out["run"] = {
            "frames": 30,
            "first_frame_s": times[0],
            "median_ms_after_first": 1e3 * statistics.median(times[1:]),
            "frames_agreeing_with_torch": int(sum(agree)),
            "runtime_cache_bytes": eng.cache_path.stat().st_size if eng.cache_path.exists() else 0,
        }
    except Exception as e:
        out["run"] = f"{type(e).__name__}: {e}"
    return out


# -- report ----------------------------------------------------------------------------------------


def fmt(v, digits=3):
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.{digits}f}"
    return str(v)


def markdown(r: Dict) -> str:
    h = r["host"]
    lines = [
        f"# GPU suite{' (dry run: tiny sizes, CPU)' if r['dry_run'] else ''}",
        "",
        f"Host: {h.get('gpu') or 'no GPU'}"
        f"{' (sm ' + h['compute_capability'] + ')' if h.get('compute_capability') else ''}, "
        f"{h['cpus']} CPUs, torch {h['torch']}, CUDA {h['cuda']}; {r.get('elapsed_s', 0):.0f} s of a "
        f"{r['budget_s']:.0f} s budget.",
        "",
    ]
    if r["dry_run"]:
        lines += ["A dry run shows that every part runs; its numbers (tiny sizes, CPU) measure nothing.", ""]
    missing = {k: v for k, v in r.get("missing", {}).items() if v}
    if missing:
        lines += ["Missing on this host: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items()), ""]
    for name in PARTS:
        part = r["parts"].get(name)
        if part is None:
            continue
        lines.append(f"## {name}: {part['status']}" + (f" ({part['seconds']} s)" if "seconds" in part else ""))
        lines.append("")
        if part["status"] != "ok":
            lines += [f"{part.get('why') or part.get('error')}", ""]
            continue
        res = part["result"]
        if name == "kernel":
            lines.append(
                f"Compiled for sm_{', sm_'.join(res['archs'])} in {res['compile_s']} s; ran on {res['ran_on']}."
            )
            lines.append(
                f"Mamba-1 twin: max |err| y {fmt(res['mamba1_vs_twin']['max_abs_err_y'])}, state "
                f"{fmt(res['mamba1_vs_twin']['max_abs_err_state'])} ({res['mamba1_vs_twin']['state_dtype']}); "
                f"Mamba-2 layout vs reference: y {fmt(res['mamba2_layout_vs_reference']['max_abs_err_y'])}, "
                f"state {fmt(res['mamba2_layout_vs_reference']['max_abs_err_state'])}."
            )
            lines.append(f"Copy ({res['copy']['on']}): {res['copy']['bytes_per_s'] / 1e9:.0f} GB/s (read + written).")
            lines += [
                "",
                "| config | model input | state | MiB | kernel us | GB/s | of copy |",
                "|---|---|---|---:|---:|---:|---:|",
            ]
            for row in res["bandwidth"]:
                if "kernel_us" in row:
                    lines.append(
                        f"| {row['config']} | {row['model_input']} | {row['state_shape']} | {row['state_mib']} | "
                        f"{fmt(row['kernel_us'])} | {row['kernel_bytes_per_s'] / 1e9:.0f} | "
                        f"{100 * row['fraction_of_copy']:.0f} % |"
                    )
                else:
                    lines.append(
                        f"| {row['config']} | {row['model_input']} | {row['state_shape']} | {row['state_mib']} "
                        f"| {row['kernel']} | | |"
                    )
        elif name == "mamba_ssm":
            lines.append(f"mamba-ssm: {res['mamba_ssm']['how']}; our dispatch uses: {res['our_dispatch_uses']}.")
            for k in ("ssd_scan", "module_forward", "module_step", "twin_parallel_vs_step", "mamba1_selective_scan"):
                if k in res:
                    lines.append(f"- {k}: {json.dumps(res[k], default=str)}")
        elif name == "train_speed":
            lines += [
                f"{res['device']}, median of {res['iters']} after a warm-up; paper: {res['paper']}.",
                "",
                "| config | frames | parallel s/it | iterative s/it | speed-up |",
                "|---|---:|---:|---:|---:|",
            ]
            for row in res["rows"]:
                if "skipped" in row:
                    lines.append(f"| {row['config']} | {row['frames']} | skipped ({row['skipped']}) | | |")
                else:
                    lines.append(
                        f"| {row['config']} | {row['frames']} | {fmt(row['parallel_s'])} | "
                        f"{fmt(row['iterative_s'])} | {row['speedup']:.2f}x |"
                    )
        elif name == "session":
            lines += [
                "| config | precision | camera | model input | ms/frame | frames/s | state |",
                "|---|---|---|---|---:|---:|---|",
            ]
            for row in res["step"]:
                lines.append(
                    f"| {row['config']} | {row['precision']} | {row['camera']} | {row['model_input']} | "
                    f"{fmt(row['median_ms'])} | {fmt(row['fps'])} | {', '.join(row['state_dtypes'])} |"
                )
            ls = res["long_stream"]
            lines += [
                "",
                f"Long stream ({ls['config']}, {ls['precision']}): {ls['frames_run']} of {ls['frames_wanted']} frames.",
                "",
            ]
            if ls["memory"]:
                keys = [k for k in ls["memory"][0] if k != "frame"]
                lines += ["| frame | " + " | ".join(keys) + " |", "|---:|" + "---:|" * len(keys)]
                for m in ls["memory"]:
                    lines.append(f"| {m['frame']} | " + " | ".join(fmt(m[k]) for k in keys) + " |")
        elif name == "tensorrt_rtx":
            lines.append(
                f"TensorRT-RTX {res['tensorrt_rtx']}: engine for {', '.join(res['targets'])} built in "
                f"{res['build_s']} s, {res['engine_mib']} MiB."
            )
            for k in ("gpu_cc", "gpu_is_a_target", "engine_with_target_check", "deserialize_s", "run"):
                if k in res:
                    lines.append(f"- {k}: {json.dumps(res[k], default=str)}")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--dry-run", action="store_true", help="every part at tiny sizes on the CPU")
    p.add_argument("--budget-s", type=float, default=480.0, help="wall-time budget (default 8 min)")
    p.add_argument("--only", nargs="+", choices=PARTS, help="run these parts only")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    suite = Suite(args.dry_run, Path(args.out), args.budget_s)
    missing = {k: v for k, v in suite.results["missing"].items() if v}
    print(f"[gpu_suite] missing here: {missing or 'nothing'}", flush=True)
    if not suite.dry and not suite.gpu:
        print("[gpu_suite] no CUDA device visible: running the dry run instead (--dry-run)", flush=True)
        suite = Suite(True, Path(args.out), args.budget_s)
    # minimum seconds a part needs to start (GPU): compile ~1 min, Triton JIT, training, 10k frames
    needs = {"kernel": 60, "mamba_ssm": 40, "train_speed": 60, "session": 60, "tensorrt_rtx": 30}
    fns = {
        "kernel": part_kernel,
        "mamba_ssm": part_mamba_ssm,
        "train_speed": part_train_speed,
        "session": part_session,
        "tensorrt_rtx": part_tensorrt_rtx,
    }
    for name in args.only or PARTS:
        suite.run_part(name, fns[name], needs[name] if suite.gpu else 0)
    suite.write()
    bad = [n for n, r in suite.results["parts"].items() if r["status"] == "error"]
    print(f"[gpu_suite] wrote {suite.out}; {len(suite.results['parts'])} parts, errors: {bad or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
