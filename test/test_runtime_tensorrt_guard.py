"""Without TensorRT everything TensorRT-shaped fails early with a message naming what is
missing; nothing imports tensorrt at module import time."""

import importlib.util
import subprocess
import sys

import pytest

from ausm.export.tensorrt_support import TensorRTUnavailable, import_tensorrt

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here: the guards are not exercised"
)


def test_import_names_the_missing_package():
    with pytest.raises(TensorRTUnavailable) as e:
        import_tensorrt()
    msg = str(e.value)
    assert "'tensorrt'" in msg and "JetPack" in msg and "onnxruntime" in msg


@pytest.mark.subprocess
def test_modules_import_without_tensorrt():
    code = (
        "import sys; import ausm.export.tensorrt_builder, ausm.runtimes.tensorrt_runner, "
        "ausm.runtimes.loading; assert 'tensorrt' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.subprocess
def test_builder_cli_reports_and_exits(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ausm.export.tensorrt_builder",
            "--onnx",
            str(tmp_path / "x.onnx"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "'tensorrt'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_engine_runtime_refuses_clearly(tmp_path):
    from ausm.runtimes.tensorrt_runner import TensorRTEngine

    with pytest.raises(TensorRTUnavailable, match="tensorrt"):
        TensorRTEngine(tmp_path / "x.engine", model=None)
