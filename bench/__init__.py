"""Benchmarks (run as scripts: ``python bench/<name>.py --help``), and the measurement tools
they share with the tests, importable from the checkout as ``bench.<module>``:

- ``bench.node_client``: the perception node as its own process, and a DDS client that
  sends it frames and records what it publishes;
- ``bench.runtime_parity``: one scripted stream through two backends' sessions, compared;
- ``bench.kernel_harness``: build and drive the standalone CUDA harness of the fused SSM kernel.

None of this is installed with the packages (setup.py and CMakeLists.txt leave bench/ out).
"""
