"""Build a TensorRT engine from the exported step, through the on-disk engine cache.

    python -m ausm.export.tensorrt_builder --onnx step.onnx --out ~/.cache/ausm/engines
    python -m ausm.export.tensorrt_builder --checkpoint demo.safetensors --out step.engine
    python -m ausm.export.tensorrt_builder ... --force-rebuild | --fp32 | --plugin none

The command only builds (and caches) the engine, nothing runs: use it to build on the
target once, e.g. when flashing a Jetson, so the node finds the engine at start-up.
``--out`` is a cache directory (engines named by their key) or an ``.engine`` file.

Precision: with fp16 (default) convolutions, attention and the rest run in fp16, while
every layer of the SSM region (the per-pixel Mamba step: projections, causal conv and the
state update, named ``.../ssm_step.../...`` by the exporter) is pinned to fp32 with
``OBEY_PRECISION_CONSTRAINTS``; the recurrent state inputs/outputs are fp32 tensors.
The ``ausm::SelectiveStateUpdate`` nodes become the fused plugin when its library is
found (``--plugin auto``), else they are expanded into standard ops (still fp32).
TensorRT >= 11 has no weakly typed fp16 mode; there the engine is built fp32 (a warning
says so).
"""

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import onnx

from ..config import parse_size
from . import ssm_op
from .engine_cache import EngineCache, EngineKey, build_or_load
from .onnx_export import file_sha256
from .ssm_step import REGION_TAG
from .step_io import StepSpec
from .tensorrt_support import (
    TensorRTUnavailable,
    find_plugin_library,
    gpu_identity,
    import_tensorrt,
    load_plugin_library,
)

log = logging.getLogger(__name__)


@dataclass
class BuildOptions:
    fp16: bool = True
    plugin: str = "auto"  # "auto" (use it if built), "none", or a path to the .so
    workspace_mib: int = 0  # 0: TensorRT's default (the device's memory)


@dataclass
class EngineResult:
    path: Path
    key: EngineKey
    built: bool  # False: came from the cache


def resolve_plugin(option):
    """Path of the plugin library to use, or None to expand the SSM nodes into standard ops."""
    if option in (None, "", "none"):
        return None
    if option == "auto":
        found = find_plugin_library()
        if found is None:
            log.info(
                "SSM plugin library not found: the SelectiveStateUpdate nodes run as standard "
                "ops (for the fused kernel build ausm/export/plugin with CMake, or set "
                "AUSM_TRT_PLUGIN)"
            )
        return found
    path = Path(option).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"SSM plugin library {path} does not exist")
    return path


def prepare_onnx(model, use_plugin):
    """The ONNX model as TensorRT's parser should see it: with the plugin, the SSM nodes
    keep no definition (the parser resolves them to the plugin); without, they are expanded
    into standard ops named inside the SSM region."""
    return ssm_op.without_function(model) if use_plugin else ssm_op.inline_nodes(model)


def in_ssm_region(layer_name):
    return REGION_TAG in layer_name or ssm_op.OP_TYPE in layer_name


def pin_ssm_region_fp32(network, trt):
    """Force fp32 compute and outputs on every float-producing layer of the SSM region.
    Returns the number of layers pinned; raises if none (the state would not be protected)."""
    floats = (trt.float32, trt.float16)
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if not in_ssm_region(layer.name):
            continue
        outs = [j for j in range(layer.num_outputs) if layer.get_output(j).dtype in floats]
        if not outs:
            continue  # shape / index computations: nothing to pin
        layer.precision = trt.float32
        for j in outs:
            layer.set_output_type(j, trt.float32)
        pinned += 1
    if not pinned:
        raise RuntimeError(
            f"no layer of the SSM region ('{REGION_TAG}') found in the network: "
            "was the ONNX file made by ausm.export.onnx_export?"
        )
    return pinned


def supports_weak_fp16(trt):
    return hasattr(trt.BuilderFlag, "FP16") and hasattr(trt.BuilderFlag, "OBEY_PRECISION_CONSTRAINTS")


def build_serialized(onnx_model, options, trt, plugin_path=None):
    """Parse and build; returns the serialized engine bytes."""
    logger = trt.Logger(trt.Logger.WARNING)
    if plugin_path is not None:
        load_plugin_library(plugin_path)
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH") and int(trt.__version__.split(".")[0]) < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(prepare_onnx(onnx_model, plugin_path is not None).SerializeToString()):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX step:\n{errors}")
    config = builder.create_builder_config()
    if options.workspace_mib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_mib) << 20)
    if options.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        log.info("fp16 build; %d SSM-region layers pinned to fp32", pin_ssm_region_fp32(network, trt))
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT failed to build the engine (see its log above)")
    return bytes(engine)


def engine_key(onnx_path, spec, options, trt, plugin_path):
    name, cc = gpu_identity()
    return EngineKey(
        model_sha256=file_sha256(onnx_path),
        tensorrt_version=trt.__version__,
        gpu_name=name,
        compute_capability=cc,
        input_hw=tuple(spec.input_hw),
        precision="fp16" if options.fp16 else "fp32",
        plugin_sha256=file_sha256(plugin_path) if plugin_path else "",
    )


def build_engine(onnx_path, cache_dir=None, engine_path=None, options=None, force_rebuild=False):
    """The engine for ``onnx_path`` on this machine's GPU: from the cache when its key
    matches, else built and stored. Give a cache directory or an explicit engine path."""
    options = options or BuildOptions()
    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file {onnx_path} does not exist")
    model = onnx.load(str(onnx_path))
    spec = StepSpec.from_onnx(model)
    if options.fp16 and not supports_weak_fp16(trt):
        log.warning("TensorRT %s has no weakly typed fp16 builder flags: building fp32", trt.__version__)
        options = BuildOptions(fp16=False, plugin=options.plugin, workspace_mib=options.workspace_mib)
    plugin_path = resolve_plugin(options.plugin)
    key = engine_key(onnx_path, spec, options, trt, plugin_path)
    cache = EngineCache(directory=cache_dir, engine_path=engine_path)
    meta = {**spec.metadata(), "plugin_library": str(plugin_path) if plugin_path else ""}
    path, built = build_or_load(
        key, cache, lambda: build_serialized(model, options, trt, plugin_path), meta, force_rebuild
    )
    return EngineResult(path, key, built)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m ausm.export.tensorrt_builder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx", help="the exported step (python -m ausm.export.onnx_export)")
    src.add_argument("--checkpoint", help="export this checkpoint first (cached), then build")
    p.add_argument(
        "--input-size", type=parse_size, help="model input WxH, with --checkpoint when its config has no input_size"
    )
    p.add_argument("--out", required=True, help="engine cache directory, or an .engine file")
    p.add_argument("--fp32", action="store_true", help="no fp16 anywhere (default: fp16 outside the SSM)")
    p.add_argument("--plugin", default="auto", help="SSM plugin library: auto (default), none, or a path")
    p.add_argument("--workspace-mib", type=int, default=0)
    p.add_argument("--force-rebuild", action="store_true", help="build even when the cache has the engine")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        onnx_path = args.onnx
        if args.checkpoint:
            from ..checkpoint import load_checkpoint
            from .onnx_cache import cached_step_onnx

            hw = args.input_size[::-1] if args.input_size else None  # WxH on the command line
            onnx_path = cached_step_onnx(load_checkpoint(args.checkpoint).eval(), hw, progress=True)
        out = Path(args.out).expanduser()
        as_file = out.suffix in (".engine", ".plan", ".trt")
        res = build_engine(
            onnx_path,
            cache_dir=None if as_file else out,
            engine_path=out if as_file else None,
            options=BuildOptions(fp16=not args.fp32, plugin=args.plugin, workspace_mib=args.workspace_mib),
            force_rebuild=args.force_rebuild,
        )
    except (TensorRTUnavailable, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{res.path}  ({'built' if res.built else 'cached'}; key {res.key.digest()[:16]}: "
        f"{res.key.gpu_name}, TensorRT {res.key.tensorrt_version}, "
        f"{res.key.input_hw[0]}x{res.key.input_hw[1]}, {res.key.precision}"
        f"{', SSM plugin' if res.key.plugin_sha256 else ''})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
