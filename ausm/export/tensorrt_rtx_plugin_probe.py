"""Can a plugin for ``ausm::SelectiveStateUpdate`` take part in a TensorRT-RTX build?

    python -m ausm.export.tensorrt_rtx_plugin_probe --onnx step.onnx

Registers a build-time-only IPluginV3 of the node (defined through TensorRT-RTX's own
Python bindings, so no C++ headers or ABI are involved: it has the node's name, version,
output shapes and fp32 formats, and no kernel), then parses the exported step with the SSM
nodes kept as nodes, and builds. Prints one line per stage, so a caller can tell how far it
got even when TensorRT-RTX ends the process.

Seen with TensorRT-RTX 1.7.1.116 (test/test_export_tensorrt_rtx.py runs this): the parser
finds the creator and creates the plugin ("Successfully created plugin"), then the process
is aborted inside libtensorrt_onnxparser_rtx (std::terminate), because TensorRT-RTX's
network definition has no plugin layer to put it in (``INetworkDefinition`` has no
``add_plugin_v3`` / ``add_plugin_v2``). The project's C++ plugin meets the same wall, and
an earlier one: no TensorRT-RTX headers ship on PyPI, and built against full TensorRT's
public headers it segfaults in the registry (10.x headers) or registers and then ends the
same way (11.x headers).
"""

import argparse
import sys
from typing import List, Optional

import onnx

from . import ssm_op
from .tensorrt_rtx import import_tensorrt_rtx


def plugin_classes(trt):
    """(plugin class, creator class) for the node, build phase only."""

    class SelectiveStateUpdateProbe(
        trt.IPluginV3, trt.IPluginV3OneCore, trt.IPluginV3OneBuild, trt.IPluginV3OneRuntime
    ):
        def __init__(self):
            trt.IPluginV3.__init__(self)
            trt.IPluginV3OneCore.__init__(self)
            trt.IPluginV3OneBuild.__init__(self)
            trt.IPluginV3OneRuntime.__init__(self)
            self.plugin_name, self.plugin_version, self.plugin_namespace = ssm_op.OP_TYPE, "1", ""
            self.num_outputs = len(ssm_op.OUTPUTS)

        def get_capability_interface(self, kind):
            return self

        def clone(self):
            return SelectiveStateUpdateProbe()

        def get_output_data_types(self, input_types):
            return [trt.float32] * len(ssm_op.OUTPUTS)  # y and the new state: fp32

        def get_output_shapes(self, inputs, shape_inputs, expr_builder):
            state = inputs[0]  # [b, h, p, n]
            y, new_state = trt.DimsExprs(3), trt.DimsExprs(4)
            for i in range(3):
                y[i] = state[i]
            for i in range(4):
                new_state[i] = state[i]
            return [y, new_state]

        def supports_format_combination(self, pos, in_out, num_inputs):
            desc = in_out[pos].desc
            return desc.type == trt.float32 and desc.format == trt.TensorFormat.LINEAR

        def configure_plugin(self, inputs, outputs):
            pass

        def get_workspace_size(self, inputs, outputs):
            return 0

        def get_valid_tactics(self):
            return []

        def get_fields_to_serialize(self):
            return trt.PluginFieldCollection([])

        def on_shape_change(self, inputs, outputs):
            pass

        def set_tactic(self, tactic):
            pass

        def attach_to_context(self, context):
            return self.clone()

        def enqueue(self, *args):
            raise RuntimeError("build-time probe: no kernel")

    class SelectiveStateUpdateProbeCreator(trt.IPluginCreatorV3One):
        def __init__(self):
            trt.IPluginCreatorV3One.__init__(self)
            self.name, self.plugin_namespace, self.plugin_version = ssm_op.OP_TYPE, "", "1"
            self.field_names = trt.PluginFieldCollection([])

        def create_plugin(self, name, field_collection, phase):
            return SelectiveStateUpdateProbe()

    return SelectiveStateUpdateProbe, SelectiveStateUpdateProbeCreator


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, help="an exported step (ausm.export.onnx_export)")
    p.add_argument("--no-register", action="store_true", help="parse without registering the plugin")
    args = p.parse_args(argv)
    trt = import_tensorrt_rtx()
    say = lambda *a: print(*a, flush=True)  # flushed: the process may not return
    say(f"tensorrt_rtx {trt.__version__}")
    say(
        f"network can add plugin layers: "
        f"{any(hasattr(trt.INetworkDefinition, n) for n in ('add_plugin_v3', 'add_plugin_v2'))}"
    )
    _, creator_cls = plugin_classes(trt)
    creator = creator_cls()
    if not args.no_register:
        say(f"registered: {trt.get_plugin_registry().register_creator(creator, '')}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    model = ssm_op.without_function(onnx.load(args.onnx))  # the SSM nodes stay nodes
    say(f"parsing ({len(ssm_op.ssm_nodes(model))} SelectiveStateUpdate nodes)")
    if not parser.parse(model.SerializeToString()):
        say("parse failed: " + " | ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
        return 1
    plugins = sum(network.get_layer(i).type == trt.LayerType.PLUGIN_V3 for i in range(network.num_layers))
    say(f"parsed: {plugins} plugin layers")
    config = builder.create_builder_config()
    config.num_compute_capabilities = 1
    config.set_compute_capability(trt.ComputeCapability.SM86, 0)
    engine = builder.build_serialized_network(network, config)
    say(f"built: {None if engine is None else engine.nbytes} bytes")
    return 0 if engine is not None else 1


if __name__ == "__main__":
    sys.exit(main())
