"""Per-frame latency of the backends, and the 100-frame parity check of onnxruntime vs torch.

    python bench/backends.py [--config tiny] [--checkpoint x.safetensors] [--frames 30]
                             [--threads N] [--parity-frames 100]

CPU: AUSM.step through torch and through onnxruntime (the exported step, the SSM as its
ONNX function), on identical inputs, taking turns in blocks of frames so both see the
same machine load; also the whole StreamSession.step (resize, prompts, tracking) per backend.
Then the acceptance check: a 100-frame stream with prompts and discoveries through a
torch session and an onnxruntime session (bench/runtime_parity.py).
GPU (when one is visible): the SSM state update in PyTorch eager vs the fused CUDA
kernel; otherwise a message says what was skipped.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ausm import build_model
from ausm.export.onnx_cache import cached_step_onnx
from ausm.runtimes import OnnxRuntimeStepRunner, TorchStepRunner
from ausm.session import StreamSession
from bench.runtime_parity import compare_sessions, moving_shapes


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def step_inputs(model, hw, seed):
    g = torch.Generator().manual_seed(seed)
    K = model.config.num_ids
    mh, mw = model.mask_size(hw)
    valid = torch.zeros(1, K, dtype=torch.bool)
    valid[0, :4] = True
    return (
        torch.rand(1, 3, *hw, generator=g),
        torch.arange(K)[None],
        (torch.rand(1, K, mh, mw, generator=g) > 0.8).float(),
        valid,
    )


ROUNDS = 6  # backends take turns in blocks of frames, so both see the same machine load


def time_steps(runners, model, hw, frames, warmup=3):
    """Per-frame AUSM.step latency (s) per runner."""
    times = {r.name: [] for r in runners}
    states = {r.name: r.initial_state(hw) for r in runners}

    def step(r, t):
        image, slots, masks, valid = step_inputs(model, hw, t)
        t0 = time.perf_counter()
        _, states[r.name] = r.step(image, states[r.name], slots, masks, valid)
        return time.perf_counter() - t0

    block = max(1, frames // ROUNDS)
    with torch.inference_mode():
        for rnd in range(ROUNDS):
            for r in runners:
                for t in range(warmup if rnd == 0 else 0):
                    step(r, -1 - t)
                times[r.name] += [step(r, t) for t in range(rnd * block, (rnd + 1) * block)]
    return times


def time_sessions(model, runners, frame_hw, frames, warmup=3):
    """Per-frame StreamSession.step latency (s) per runner (resize, tracking, results included)."""
    sessions = {r.name: StreamSession(r) for r in runners}
    times = {r.name: [] for r in runners}
    block = max(1, frames // ROUNDS)
    for rnd in range(ROUNDS):
        for name, s in sessions.items():
            for t in range(warmup if rnd == 0 else 0):
                s.step(moving_shapes(t, frame_hw))
            for t in range(rnd * block, (rnd + 1) * block):
                f = moving_shapes(warmup + t, frame_hw)
                t0 = time.perf_counter()
                s.step(f)
                times[name].append(time.perf_counter() - t0)
    return times


def table(title, times, reference="torch"):
    ref = statistics.median(times[reference])
    print(f"\n{title}")
    print(f"| backend | median ms | p90 ms | frames/s | speed-up vs {reference} |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        med, p90 = statistics.median(ts), float(np.percentile(ts, 90))
        print(f"| {name} | {med * 1e3:.1f} | {p90 * 1e3:.1f} | {1 / med:.1f} | {ref / med:.2f}x |")


def gpu_section(model):
    from bench import kernel_harness as kh

    nvcc = kh.find_nvcc()
    if nvcc is None:
        print("\nGPU: skipped (nvcc not found, cannot build the CUDA kernel harness)")
        return
    with tempfile.TemporaryDirectory() as d:
        exe = kh.build_harness(d)
        info = kh.gpu_info(exe)
        if info is None:
            print(
                "\nGPU: skipped (no CUDA device visible): torch eager vs the fused CUDA kernel "
                "needs a GPU machine; run bench/ssm_kernel.py there for the kernel's bandwidth"
            )
            return
        print(f"\nGPU: {info['gpu']} (sm {info['cc']}): SSM state update, one compressor layer")
        print("| config | state [b, h, p, n] | torch eager us | CUDA kernel us | speed-up |")
        print("|---|---|---:|---:|---:|")
        for name in ("tiny", "swin_t"):
            m = build_model(name).eval() if name != "tiny" else model
            hw = m.config.model_size((480, 640))
            pixels = (hw[0] // 8) * (hw[1] // 8)
            ssm = m.compressor.layers[0].ssm
            shape = (pixels, 1, ssm.d_inner, ssm.d_state)
            kernel_us = kh.bench(exe, shape)["time_us"]
            eager = "n/a (torch has no CUDA here)"
            if torch.cuda.is_available():
                from ausm.export.ssm_op import selective_state_update

                dev = torch.device("cuda")
                b, h, p, n = shape
                shapes = [
                    (b, h, p, n),
                    (b, h, p),
                    (b, h, p),
                    (h, p, n),
                    (b, h, n),
                    (b, h, n),
                    (h, p),
                    (b, h, p),
                    (h, p),
                ]  # ssm_op.INPUTS order
                args = [torch.randn(s, device=dev) for s in shapes]
                args[3] = -args[3].abs()
                for _ in range(5):
                    selective_state_update(*args)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(50):
                    selective_state_update(*args)
                torch.cuda.synchronize()
                eager_us = (time.perf_counter() - t0) / 50 * 1e6
                eager = f"{eager_us:.1f}"
                ratio = f"{eager_us / kernel_us:.1f}x"
            else:
                ratio = "n/a"
            print(f"| {name} {hw[1]}x{hw[0]} | {list(shape)} | {eager} | {kernel_us:.1f} | {ratio} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny")
    p.add_argument("--checkpoint", help="weights (default: random, seed 0)")
    p.add_argument("--frames", type=int, default=30, help="timed frames per backend")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for both (default: torch's)")
    p.add_argument("--parity-frames", type=int, default=100, help="0 skips the parity check")
    p.add_argument("--no-gpu", action="store_true")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.checkpoint:
        from ausm.checkpoint import load_checkpoint

        model = load_checkpoint(args.checkpoint).eval()
    else:
        torch.manual_seed(0)
        model = build_model(args.config).eval()
    hw = tuple(model.config.model_size((240, 320)))
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        onnx_path = cached_step_onnx(model, hw, cache_dir=cache)
        export_s = time.perf_counter() - t0
        runners = [TorchStepRunner(model), OnnxRuntimeStepRunner(model, onnx_path, num_threads=threads)]
        import onnxruntime

        print(
            f"{cpu_name()}, {os.cpu_count()} cores, {threads} threads each; torch {torch.__version__}, "
            f"onnxruntime {onnxruntime.__version__}; config {model.config.name} at {hw[1]}x{hw[0]}; "
            f"load average {os.getloadavg()[0]:.1f}; export {export_s:.1f} s"
        )
        table(f"AUSM.step, {args.frames} frames", time_steps(runners, model, hw, args.frames))
        table(
            f"StreamSession.step on 320x240 frames, {args.frames} frames",
            time_sessions(model, runners, (240, 320), args.frames),
        )
        if args.parity_frames:
            t0 = time.perf_counter()
            rep = compare_sessions(runners[0], runners[1], args.parity_frames, (240, 320))
            ok_iou, ok_state = rep.worst_iou >= 0.99, rep.worst_lockstep_state_diff <= 1e-3
            print(f"\nparity, onnxruntime vs torch session ({time.perf_counter() - t0:.0f} s): {rep.summary()}")
            print(
                f"  masks IoU >= 0.99 per object every frame: {'PASS' if ok_iou else 'FAIL'} "
                f"(worst: frame {rep.worst[0]}, track {rep.worst[1]}, IoU {rep.worst[2]:.4f})"
            )
            print(f"  state max |diff| <= 1e-3 on the same inputs (lock step): {'PASS' if ok_state else 'FAIL'}")
            first = rep.first_divergence()
            flips = rep.history_pixels_differing
            print(
                "  closed loop: states within 1e-3 on every frame"
                if first is None
                else f"  closed loop: states first differ by > 1e-3 at frame {first}, max "
                f"{rep.worst_state_diff:.2e}, {rep.state_max_abs[-1]:.1e} at the last frame; history "
                f"mask pixels differing: {sum(1 for f in flips if f)} frames, at most {max(flips)} "
                f"pixels (of {rep.history_pixels_total})"
            )
    if not args.no_gpu:
        gpu_section(model)


if __name__ == "__main__":
    main()
