"""The fused SSM kernel cannot rot: nvcc compiles it (and its harness, and the TensorRT
plugin when TensorRT's headers are present) for the GPUs we target, and the harness's
host reference of the kernel's element math matches the PyTorch twin. On a machine with
a GPU the same harness runs the kernel itself against the twin."""

import shutil
import subprocess

import pytest
import torch

from ausm.export import ssm_op
from bench import kernel_harness as kh

pytestmark = [pytest.mark.export, pytest.mark.subprocess]

NVCC = kh.find_nvcc()
pytestmark = pytest.mark.skipif(
    NVCC is None,
    reason="nvcc not found (PATH, $CUDA_HOME, /usr/local/cuda): the CUDA toolkit is needed to compile the kernel",
)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    d = tmp_path_factory.mktemp("ssm_kernel")
    obj = kh.compile_kernel(d, kh.DEFAULT_ARCHS)  # nvcc -c, sm_80 / sm_87 / sm_90
    return kh.build_harness(d, kh.DEFAULT_ARCHS, kernel_object=obj)


def twin_reference(m, u, state, y_node):
    """The twin's step, and the node output pushed through the twin's out_proj."""
    with torch.no_grad():
        y_ref, (_, s_ref) = m.step(u, state)
        return y_ref, s_ref, m.out_proj(y_node.squeeze(1))


def node_cases():
    """(inputs, attrs) in the node's general layout: Mamba-2 shapes (heads > 1, gate off,
    dt clamped) and a d_state that is not a multiple of 4 (the kernel's scalar path)."""
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)
    for (b, h, p, n), attrs in [
        ((37, 4, 8, 16), {"gate": 0, "dt_min": 0.01, "dt_max": 0.2}),
        ((53, 1, 24, 6), {"gate": 1}),
    ]:
        yield (
            dict(
                state=r(b, h, p, n),
                x=r(b, h, p),
                dt=r(b, h, p),
                A=-torch.rand(h, p, n, generator=g),
                B=r(b, h, n),
                C=r(b, h, n),
                D=r(h, p),
                z=r(b, h, p),
                dt_bias=r(h, p),
            ),
            attrs,
        )


def test_kernel_and_harness_compile(harness):
    assert harness.exists() and (harness.parent / "selective_state_update_kernel.o").stat().st_size > 0
    # without a GPU the harness says so plainly instead of failing obscurely
    info = subprocess.run([str(harness), "info"], capture_output=True, text=True)
    assert info.returncode in (0, kh.NO_GPU_EXIT) and '"gpu"' in info.stdout


def test_host_reference_matches_mamba1_twin(harness, tmp_path):
    m, u, state, inputs, attrs = kh.mamba1_case(d_model=64, d_state=16, batch=300)
    y_node, s_node = kh.run(harness, inputs, tmp_path, cpu=True, **attrs)
    y_ref, s_ref, y = twin_reference(m, u, state, y_node)
    torch.testing.assert_close(s_node.squeeze(1), s_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("case", range(2))
def test_host_reference_matches_node_semantics(harness, tmp_path, case):
    inputs, attrs = list(node_cases())[case]
    y, s = kh.run(harness, inputs, tmp_path, cpu=True, **attrs)
    ry, rs = ssm_op.selective_state_update(**inputs, **attrs)
    torch.testing.assert_close(s, rs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y, ry, atol=1e-5, rtol=1e-4)


def test_gpu_kernel_matches_twin(harness, tmp_path):
    if kh.gpu_info(harness) is None:
        pytest.skip(
            "no CUDA device visible: the kernel's GPU numerics need a GPU machine "
            "(this test runs them there; the host reference above ran here)"
        )
    m, u, state, inputs, attrs = kh.mamba1_case(d_model=64, d_state=16, batch=300)
    y_node, s_node = kh.run(harness, inputs, tmp_path, **attrs)
    y_ref, s_ref, y = twin_reference(m, u, state, y_node)
    torch.testing.assert_close(s_node.squeeze(1), s_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-4)
    for inputs, attrs in node_cases():
        y, s = kh.run(harness, inputs, tmp_path, **attrs)
        ry, rs = ssm_op.selective_state_update(**inputs, **attrs)
        torch.testing.assert_close(s, rs, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(y, ry, atol=1e-5, rtol=1e-4)


def test_plugin_compiles_against_tensorrt_headers(tmp_path):
    include = kh.find_tensorrt_include()
    if include is None:
        pytest.skip(
            "TensorRT headers (NvInferRuntime.h) not found: set TENSORRT_INCLUDE_DIR or "
            "TENSORRT_ROOT to compile the plugin; the kernel it wraps compiled above"
        )
    assert kh.compile_plugin(tmp_path, include).stat().st_size > 0


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not found")
def test_cmake_configures_the_plugin_tree(tmp_path):
    proc = subprocess.run(
        [
            "cmake",
            "-S",
            str(kh.PLUGIN_DIR),
            "-B",
            str(tmp_path),
            f"-DCMAKE_CUDA_COMPILER={NVCC}",
            "-DCMAKE_CUDA_ARCHITECTURES=80",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = kh.find_tensorrt_include() is not None
    assert ("building libausm_trt_plugin" in proc.stdout) == found, proc.stdout
