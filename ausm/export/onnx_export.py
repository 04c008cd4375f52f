"""Export AUSM's per-frame streaming step to ONNX.

    python -m ausm.export.onnx_export --checkpoint demo.safetensors --out step.onnx
    python -m ausm.export.onnx_export --config tiny --out step.onnx      # random weights

The graph is ``AUSM.step`` for one stream at a fixed input size (see ``step_io`` for the
inputs and outputs); every compressor layer's SSM state update is one
``ausm::SelectiveStateUpdate`` node whose definition travels in the file as an ONNX
function (``ssm_op``). The file is checked with ``onnx.checker`` (full check) before it
is written.
"""

import argparse
import hashlib
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
import torch.nn as nn
from tqdm import tqdm

from ..config import parse_size
from . import ssm_op
from .ssm_step import ssm_steps_as_custom_op
from .step_io import StepSpec, input_names, output_names

log = logging.getLogger(__name__)
DEFAULT_OPSET = 17  # LayerNormalization exists; TensorRT 10.3 (JetPack 6) parses it


class StepGraph(nn.Module):
    """``AUSM.step`` with flat tensor inputs and outputs, the shape an exporter needs."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.class_heads = list(model.config.num_classes)

    def forward(self, image, id_slots, id_masks, id_valid, *state):
        out, next_state = self.model.step(image, list(state), id_slots, id_masks, id_valid)
        return (
            out["mask_logits"],
            out["objectness_logits"],
            *[out["class_logits"][h] for h in self.class_heads],
            *next_state,
        )


def export_inputs(model, input_hw):
    """Example inputs for tracing; values do not matter, shapes and dtypes do."""
    K = model.config.num_ids
    mh, mw = model.mask_size(input_hw)
    g = torch.Generator().manual_seed(0)
    masks = (torch.rand(1, K, mh, mw, generator=g) > 0.5).float()
    valid = torch.zeros(1, K, dtype=torch.bool)
    valid[0, : K // 2] = True
    state = model.initial_state(1, input_hw)
    return (torch.rand(1, 3, *input_hw, generator=g), torch.arange(K)[None], masks, valid, *state)


def resolve_input_hw(model, input_hw=None):
    hw = input_hw or model.config.input_size
    if hw is None:
        raise ValueError(
            f"config '{model.config.name}' has no fixed input_size: give the input "
            "size (H, W) to export for, a multiple of "
            f"{model.config.size_divisor}"
        )
    hw = tuple(int(v) for v in hw)
    if len(hw) != 2 or any(v <= 0 or v % model.config.size_divisor for v in hw):
        raise ValueError(f"input size {hw} must be (H, W), multiples of {model.config.size_divisor}")
    return hw


@dataclass
class ExportResult:
    path: Path
    spec: StepSpec
    num_ssm_nodes: int
    sha256: str


def file_sha256(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def export_step(model, path, input_hw=None, opset=DEFAULT_OPSET, progress=True):
    """Write the streaming step of ``model`` (an AUSM on CPU) to ``path``. Returns ExportResult."""
    hw = resolve_input_hw(model, input_hw)
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError("export from a CPU model (weights are the same; tracing on CPU is exact)")
    spec = StepSpec(hw, model.state_names(), list(model.config.num_classes), model.config.to_dict())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stages = tqdm(total=4, desc=f"ONNX export {model.config.name} {hw[0]}x{hw[1]}", disable=not progress, unit="stage")
    was_training = model.training
    try:
        stages.set_postfix_str("tracing")
        log.info("exporting %s at %dx%d (opset %d)", model.config.name, hw[0], hw[1], opset)
        graph = StepGraph(model).eval()  # eval wrapper: the exporter restores *its* mode after
        with (
            tempfile.TemporaryDirectory() as tmp,
            torch.no_grad(),
            ssm_steps_as_custom_op(model),
            warnings.catch_warnings(),
        ):
            # shape checks in the model are static for a fixed input size; the tracer's
            # warnings about them, and the legacy exporter's deprecation notice, are noise here
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            raw = os.path.join(tmp, "raw.onnx")
            torch.onnx.export(
                graph,
                export_inputs(model, hw),
                raw,
                dynamo=False,
                opset_version=opset,
                input_names=input_names(spec.state_names),
                output_names=output_names(spec.state_names, spec.class_heads),
                custom_opsets={ssm_op.DOMAIN: ssm_op.OP_VERSION},
                do_constant_folding=True,
            )
            onnx_model = onnx.load(raw)
        stages.update()

        stages.set_postfix_str("attaching the SSM function")
        ssm_op.attach_function(onnx_model, opset)
        for k, v in spec.metadata().items():
            onnx_model.metadata_props.add(key=k, value=v)
        onnx_model.producer_name = "ausm"
        stages.update()

        stages.set_postfix_str("onnx.checker")
        onnx.checker.check_model(onnx_model, full_check=True)
        n_ssm = len(ssm_op.ssm_nodes(onnx_model))
        expected = len(model.compressor.layers)
        if n_ssm != expected:
            raise RuntimeError(f"expected {expected} {ssm_op.OP_TYPE} nodes, the graph has {n_ssm}")
        stages.update()

        stages.set_postfix_str("saving")
        tmp_path = path.with_name(path.name + ".tmp")
        onnx.save(onnx_model, str(tmp_path))
        os.replace(tmp_path, path)  # a half-written file never carries the real name
        stages.update()
    finally:
        model.train(was_training)
        stages.close()
    digest = file_sha256(path)
    log.info("wrote %s (%d SSM nodes, sha256 %s)", path, n_ssm, digest[:12])
    return ExportResult(path, spec, n_ssm, digest)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m ausm.export.onnx_export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a .safetensors checkpoint (config inside)")
    src.add_argument("--config", help="a named config or YAML file (random weights)")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--input-size", type=parse_size, help="model input WxH, e.g. 256x192 (default: the config's)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--seed", type=int, default=0, help="weights seed with --config")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.checkpoint:
        from ..checkpoint import load_checkpoint

        model = load_checkpoint(args.checkpoint).eval()
    else:
        from ..model import build_model

        torch.manual_seed(args.seed)
        model = build_model(args.config).eval()
    hw = args.input_size[::-1] if args.input_size else None  # WxH on the command line
    res = export_step(model, args.out, hw, args.opset)
    print(
        f"{res.path}  input {res.spec.input_hw[1]}x{res.spec.input_hw[0]} (WxH)  "
        f"{res.num_ssm_nodes} x {ssm_op.DOMAIN}::{ssm_op.OP_TYPE}  sha256 {res.sha256}"
    )


if __name__ == "__main__":
    main()
