"""The SSM core as one ONNX node: ``ausm::SelectiveStateUpdate``.

One recurrence step of a selective state-space layer, in the generalised layout of
mamba_ssm's ``selective_state_update`` (both Mamba-1 and Mamba-2 fit it):

    inputs   state [b, h, p, n]   x, dt, z [b, h, p]   A [h, p, n]
             B, C [b, h, n]       D, dt_bias [h, p]
    attrs    gate (int, 1)  dt_min (float, 0)  dt_max (float, inf)
    outputs  y [b, h, p]          new_state [b, h, p, n]

    dt'   = clip(softplus(dt + dt_bias), dt_min, dt_max)
    state = state * exp(dt' A) + (dt' x) B
    y     = state . C + D x,   times silu(z) when gate = 1

Mamba-1 is h = 1, p = d_inner (B and C shared by all channels); Mamba-2 is h = nheads,
p = headdim with dt, A, D broadcast over p and gate = 0 (its gate is in the norm).

The node carries its decomposed graph as an ONNX function in the model (FunctionProto,
domain ``ausm``), so onnxruntime runs it with standard operators, while TensorRT can
resolve the same node to the ``SelectiveStateUpdate`` plugin (ausm/export/plugin/).
Everything here is fp32: the state must never be computed in half precision.
"""

import math

import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

DOMAIN = "ausm"
OP_TYPE = "SelectiveStateUpdate"
OP_VERSION = 1
INPUTS = ("state", "x", "dt", "A", "B", "C", "D", "z", "dt_bias")
OUTPUTS = ("y", "new_state")
# Default attributes. dt_max = inf: ONNX float attributes are IEEE, so inf survives.
DEFAULT_ATTRS = {"gate": 1, "dt_min": 0.0, "dt_max": math.inf}
# Beyond this softplus(v) == v in fp32; the same threshold as torch.nn.functional.softplus.
SOFTPLUS_THRESHOLD = 20.0


def selective_state_update(state, x, dt, A, B, C, D, z, dt_bias, gate=1, dt_min=0.0, dt_max=math.inf):
    """Reference semantics of the node, in PyTorch (layout in the module docstring)."""
    dt = F.softplus(dt + dt_bias).clamp(dt_min, dt_max)
    dA = torch.exp(dt.unsqueeze(-1) * A)
    dBx = (dt * x).unsqueeze(-1) * B.unsqueeze(2)
    state = state * dA + dBx
    y = (state * C.unsqueeze(2)).sum(-1) + D * x
    if gate:
        y = y * F.silu(z)
    return y, state


class SelectiveStateUpdateOp(torch.autograd.Function):
    """Runs the reference in PyTorch; under ``torch.onnx.export`` it becomes one custom node."""

    @staticmethod
    def forward(ctx, state, x, dt, A, B, C, D, z, dt_bias, gate, dt_min, dt_max):
        return selective_state_update(state, x, dt, A, B, C, D, z, dt_bias, gate, dt_min, dt_max)

    @staticmethod
    def symbolic(g, state, x, dt, A, B, C, D, z, dt_bias, gate, dt_min, dt_max):
        y, new_state = g.op(
            f"{DOMAIN}::{OP_TYPE}",
            state,
            x,
            dt,
            A,
            B,
            C,
            D,
            z,
            dt_bias,
            gate_i=int(gate),
            dt_min_f=float(dt_min),
            dt_max_f=float(dt_max),
            outputs=2,
        )
        # the exporter cannot infer shapes through an unknown op: they are the inputs'
        y.setType(x.type())
        new_state.setType(state.type())
        return y, new_state


def apply_op(state, x, dt, A, B, C, D, z, dt_bias, gate=1, dt_min=0.0, dt_max=math.inf):
    return SelectiveStateUpdateOp.apply(state, x, dt, A, B, C, D, z, dt_bias, int(gate), float(dt_min), float(dt_max))


def _const_ints(name, values):
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))
    )


def _attr_const(out, attr, kind):
    """A Constant whose value is the calling node's attribute (an ONNX attribute reference)."""
    ref = onnx.AttributeProto()
    ref.name = f"value_{kind}"
    ref.ref_attr_name = attr
    ref.type = onnx.AttributeProto.INT if kind == "int" else onnx.AttributeProto.FLOAT
    node = helper.make_node("Constant", [], [out])
    node.attribute.append(ref)
    return node


def function_proto(opset=18):
    """The FunctionProto that defines ``ausm::SelectiveStateUpdate`` with standard ops."""
    n = helper.make_node
    nodes = [
        _const_ints("axis_last", [-1]),
        _const_ints("axis_p", [2]),
        n("Constant", [], ["one"], value=helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])),
        _attr_const("dt_lo", "dt_min", "float"),
        _attr_const("dt_hi", "dt_max", "float"),
        _attr_const("gate_i", "gate", "int"),
        # softplus as max(v, 0) + log(1 + exp(-|v|)): no overflow for any v, in every backend
        n("Add", ["dt", "dt_bias"], ["dt_raw"]),
        n("Relu", ["dt_raw"], ["sp_pos"]),
        n("Abs", ["dt_raw"], ["sp_abs"]),
        n("Neg", ["sp_abs"], ["sp_negabs"]),
        n("Exp", ["sp_negabs"], ["sp_exp"]),
        n("Add", ["sp_exp", "one"], ["sp_1p"]),
        n("Log", ["sp_1p"], ["sp_log"]),
        n("Add", ["sp_pos", "sp_log"], ["dt_sp"]),
        n("Clip", ["dt_sp", "dt_lo", "dt_hi"], ["dt_c"]),
        # decay and input
        n("Unsqueeze", ["dt_c", "axis_last"], ["dt_u"]),
        n("Mul", ["dt_u", "A"], ["dtA"]),
        n("Exp", ["dtA"], ["decay"]),
        n("Mul", ["dt_c", "x"], ["dtx"]),
        n("Unsqueeze", ["dtx", "axis_last"], ["dtx_u"]),
        n("Unsqueeze", ["B", "axis_p"], ["B_u"]),
        n("Mul", ["dtx_u", "B_u"], ["dBx"]),
        n("Mul", ["state", "decay"], ["kept"]),
        n("Add", ["kept", "dBx"], ["new_state"]),
        # readout, skip, gate
        n("Unsqueeze", ["C", "axis_p"], ["C_u"]),
        n("Mul", ["new_state", "C_u"], ["hC"]),
        n("ReduceSum", ["hC", "axis_last"], ["read"], keepdims=0),
        n("Mul", ["D", "x"], ["skip"]),
        n("Add", ["read", "skip"], ["y_pre"]),
        n("Sigmoid", ["z"], ["z_sig"]),
        n("Mul", ["z", "z_sig"], ["silu_z"]),
        n("Cast", ["gate_i"], ["gate_b"], to=TensorProto.BOOL),
        n("Where", ["gate_b", "silu_z", "one"], ["gate_f"]),
        n("Mul", ["y_pre", "gate_f"], ["y"]),
    ]
    defaults = [helper.make_attribute(k, v) for k, v in DEFAULT_ATTRS.items()]
    return helper.make_function(
        DOMAIN,
        OP_TYPE,
        list(INPUTS),
        list(OUTPUTS),
        nodes,
        [helper.make_opsetid("", opset)],
        attribute_protos=defaults,
        doc_string=__doc__.split("\n\n")[1],
    )


def attach_function(model, opset=18):
    """Add the function definition and the ``ausm`` opset import to an exported model."""
    if not any(f.domain == DOMAIN and f.name == OP_TYPE for f in model.functions):
        model.functions.append(function_proto(opset))
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, OP_VERSION))
    return model


def ssm_nodes(model):
    """The ``ausm::SelectiveStateUpdate`` nodes of a model's main graph."""
    return [nd for nd in model.graph.node if nd.domain == DOMAIN and nd.op_type == OP_TYPE]


def standalone_model(shapes, attrs=None, opset=18):
    """A model made of the single node, for testing the function (and the plugin) alone.
    ``shapes``: dict input name -> shape."""
    attrs = {**DEFAULT_ATTRS, **(attrs or {})}
    f = TensorProto.FLOAT
    node = helper.make_node(OP_TYPE, list(INPUTS), list(OUTPUTS), domain=DOMAIN, **attrs)
    graph = helper.make_graph(
        [node],
        "selective_state_update",
        [helper.make_tensor_value_info(k, f, shapes[k]) for k in INPUTS],
        [
            helper.make_tensor_value_info("y", f, shapes["x"]),
            helper.make_tensor_value_info("new_state", f, shapes["state"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return attach_function(model, opset)


def inline_nodes(model):
    """A copy of ``model`` with every SelectiveStateUpdate node replaced by its function
    body (standard ops), for consumers that neither know the op nor expand functions.
    Unlike ``onnx.inliner`` this names every expanded node ``<call name>/<op>_<k>``, so the
    expanded ops stay recognisable as the SSM region (the TensorRT builder pins them to fp32)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    fn = function_proto()
    defaults = {a.name: helper.get_attribute_value(a) for a in fn.attribute_proto}
    nodes = []
    for call_index, node in enumerate(model.graph.node):
        if not (node.domain == DOMAIN and node.op_type == OP_TYPE):
            nodes.append(node)
            continue
        attrs = {**defaults, **{a.name: helper.get_attribute_value(a) for a in node.attribute}}
        prefix = node.name or f"{OP_TYPE}_{call_index}"
        rename = dict(zip(fn.input, node.input))
        rename.update(zip(fn.output, node.output))
        local = lambda v, rename=rename, prefix=prefix: rename.get(v, f"{prefix}/{v}") if v else v
        for k, body in enumerate(fn.node):
            new = helper.make_node(
                body.op_type,
                [local(v) for v in body.input],
                [local(v) for v in body.output],
                name=f"{prefix}/{body.op_type}_{k}",
                domain=body.domain,
            )
            for a in body.attribute:
                if a.ref_attr_name:  # an attribute reference: the call's value (or the default)
                    new.attribute.append(helper.make_attribute(a.name, attrs[a.ref_attr_name]))
                else:
                    new.attribute.append(a)
            nodes.append(new)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    keep = [f for f in out.functions if not (f.domain == DOMAIN and f.name == OP_TYPE)]
    del out.functions[:]
    out.functions.extend(keep)
    return out


def without_function(model):
    """A copy of ``model`` whose SelectiveStateUpdate nodes have no definition left in the
    file: TensorRT's ONNX parser then resolves them to the plugin of the same name."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    keep = [f for f in out.functions if not (f.domain == DOMAIN and f.name == OP_TYPE)]
    del out.functions[:]
    out.functions.extend(keep)
    return out
