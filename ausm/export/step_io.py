"""Names and metadata of the exported streaming step: the contract between the ONNX
file, the onnxruntime / TensorRT runners and the TensorRT engine.

Inputs (batch 1: one stream per call; K = num_ids, the fixed object count):
    image      float32 [1, 3, H, W]   RGB in [0, 1], at the model input size
    id_slots   int64   [1, K]         ID-buffer slot of each row (the session passes 0..K-1)
    id_masks   float32 [1, K, H/4, W/4]  history masks of the previous frame (or prompts)
    id_valid   bool    [1, K]         which rows are allocated objects
    state.<name>  float32             the recurrent state, ``AUSM.state_names()`` order
Outputs:
    mask_logits [1, Q, H/4, W/4], objectness_logits [1, Q], class_logits.<head> [1, Q, C]
    next_state.<name>                 the state after this frame
(Q = K ID rows + N_det detection rows.)
"""

import json
from dataclasses import dataclass
from typing import Dict, List, Tuple

FORMAT = "ausm-step/1"
FRAME_INPUTS = ("image", "id_slots", "id_masks", "id_valid")
STATE_IN, STATE_OUT = "state.", "next_state."
CLASS_PREFIX = "class_logits."


def input_names(state_names):
    return list(FRAME_INPUTS) + [STATE_IN + n for n in state_names]


def output_names(state_names, class_heads):
    return (
        ["mask_logits", "objectness_logits"]
        + [CLASS_PREFIX + h for h in class_heads]
        + [STATE_OUT + n for n in state_names]
    )


@dataclass
class StepSpec:
    """What a runner needs to know about an exported step, read from the file's metadata."""

    input_hw: Tuple[int, int]
    state_names: List[str]
    class_heads: List[str]
    config: Dict

    @property
    def inputs(self):
        return input_names(self.state_names)

    @property
    def outputs(self):
        return output_names(self.state_names, self.class_heads)

    def metadata(self):
        return {
            "ausm.format": FORMAT,
            "ausm.input_hw": json.dumps(list(self.input_hw)),
            "ausm.state_names": json.dumps(self.state_names),
            "ausm.class_heads": json.dumps(self.class_heads),
            "ausm.config": json.dumps(self.config, sort_keys=True),
        }

    @classmethod
    def from_metadata(cls, props):
        """props: dict of ONNX metadata_props (or the same dict stored beside an engine)."""
        if props.get("ausm.format") != FORMAT:
            raise ValueError(
                f"not an exported AUSM step (metadata format {props.get('ausm.format')!r}, expected {FORMAT!r})"
            )
        return cls(
            tuple(json.loads(props["ausm.input_hw"])),
            json.loads(props["ausm.state_names"]),
            json.loads(props["ausm.class_heads"]),
            json.loads(props["ausm.config"]),
        )

    @classmethod
    def from_onnx(cls, model_or_path):
        import onnx

        model = model_or_path
        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(str(model_or_path), load_external_data=False)
        return cls.from_metadata({p.key: p.value for p in model.metadata_props})


def split_outputs(names, values):
    """Runner outputs (in ``names`` order) -> (model.step-style outputs dict, next state list)."""
    out = {"class_logits": {}}
    state = []
    for name, v in zip(names, values):
        if name.startswith(STATE_OUT):
            state.append(v)
        elif name.startswith(CLASS_PREFIX):
            out["class_logits"][name[len(CLASS_PREFIX) :]] = v
        else:
            out[name] = v
    return out, state


def io_contract(model, input_hw) -> Dict[str, Tuple[Tuple[int, ...], str, bool]]:
    """The step's I/O as the PyTorch model defines it, independent of any exported file:
    ``{name: (shape, dtype, is_input)}`` with dtype one of float32 / int64 / bool. Engines
    and ONNX files are checked against this, so a mismatch means the export or the build
    changed the contract, not that the model did."""
    cfg = model.config
    h, w = (int(v) for v in input_hw)
    mh, mw = model.mask_size((h, w))
    k, q = int(cfg.num_ids), int(cfg.num_ids) + int(cfg.num_det_queries)
    io = {
        "image": ((1, 3, h, w), "float32", True),
        "id_slots": ((1, k), "int64", True),
        "id_masks": ((1, k, mh, mw), "float32", True),
        "id_valid": ((1, k), "bool", True),
        "mask_logits": ((1, q, mh, mw), "float32", False),
        "objectness_logits": ((1, q), "float32", False),
    }
    for head, n in cfg.num_classes.items():
        io[CLASS_PREFIX + head] = ((1, q, int(n)), "float32", False)
    # every recurrent state tensor is fp32 in every backend (fp16/bf16 states drift)
    for name, shape in zip(model.state_names(), model.state_shapes(1, (h, w))):
        io[STATE_IN + name] = (tuple(int(v) for v in shape), "float32", True)
        io[STATE_OUT + name] = (tuple(int(v) for v in shape), "float32", False)
    return io
