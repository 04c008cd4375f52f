"""Deployment: the streaming step as ONNX, TensorRT engines, and the fused SSM kernel.

  onnx_export        AUSM.step -> ONNX (CLI: python -m ausm.export.onnx_export)
  ssm_op             the ausm::SelectiveStateUpdate node, its ONNX function, its reference
  ssm_step           the SSM twins' step split around that node (used while exporting)
  step_io            input/output names and metadata of the exported step
  onnx_cache         exported steps on disk, keyed by weights, config and size
  tensorrt_builder   engine builder (CLI: python -m ausm.export.tensorrt_builder)
  engine_cache       engine cache key and on-disk cache
  tensorrt_support   guarded TensorRT import, GPU identity, plugin library discovery
  tensorrt_rtx       TensorRT for RTX: ahead-of-time engine build for RTX targets, its cache
                     and I/O check (CLI: python -m ausm.export.tensorrt_rtx)
  tensorrt_rtx_plugin_probe  can a plugin join a TensorRT-RTX build? (it cannot: see README)
  plugin/            CUDA kernel, TensorRT IPluginV3, harness, CMakeLists.txt (the harness is
                     built and driven by bench/kernel_harness.py)
Nothing here imports tensorrt or tensorrt_rtx_bindings at module import time.
"""
