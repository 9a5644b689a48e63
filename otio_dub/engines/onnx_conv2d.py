"""A model's 1-D convolutions rewritten as 2-D ones of height 1, so onnxruntime's blocked kernels run them.

onnxruntime runs a 1-D ``Conv`` through im2col and a matrix product; its NCHWc transformer (blocked
layout, direct AVX2/AVX-512 kernels) only takes 2-D ones. A 1-D convolution is a 2-D one over a
tensor of height 1, so each ``Conv``/``ConvTranspose`` whose weight is a 3-D initializer becomes
``Unsqueeze -> Conv (kernel 1 x K) -> Squeeze``; the weight's dims get a 1 inserted, its bytes
are unchanged (the same row-major order). Same arithmetic, other summation order: piper's joe
voice speaks within 2e-5 (relative RMS) of its 1-D model, in 15-20% less time a synthesis
(``benchmarks/bench_onnx.py``).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("otio_dub")

#: Bumped when the rewrite would come out otherwise (stored rewrites are then made again).
VERSION = 1
_OPS = ("Conv", "ConvTranspose")
#: Per-axis attributes and the value the new height axis takes in each.
_AXIS_DEFAULTS = {"kernel_shape": 1, "strides": 1, "dilations": 1, "output_padding": 0}


def as_conv2d(model: Any) -> int:
    """Rewrite ``model`` (an ``onnx.ModelProto``) in place; the number of convolutions rewritten.

    A convolution is left as it is where its weight is not a 3-D initializer of its own (read by
    another node, in a subgraph too, or declared as a graph input), or where it gives an explicit
    ``output_shape``, so the rewrite never changes what another node reads.
    """
    import onnx

    graph = model.graph
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)
    weights = {init.name: init for init in graph.initializer}
    readers = _readers(graph)
    declared = {i.name for i in graph.input}
    axes = _fresh_name(graph, "otio_dub_conv2d_axes")
    nodes, done = [], 0
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type in _OPS and len(node.input) > 1 else None
        if weight is None or len(weight.dims) != 3 or readers.get(weight.name) != 1 or weight.name in declared \
                or any(a.name == "output_shape" for a in node.attribute):
            nodes.append(node)
            continue
        weight.dims.insert(2, 1)
        nodes.extend(_as_2d(node, f"{axes}_{done}", axes, opset))
        done += 1
    if done:
        if opset >= 13:  # Unsqueeze and Squeeze take their axes as an input from opset 13 on
            graph.initializer.append(onnx.helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [2]))
        del graph.node[:]
        graph.node.extend(nodes)
    return done


def _readers(graph: Any) -> dict[str, int]:
    """How many nodes read each tensor name, in ``graph`` and every subgraph (If, Loop, Scan) within it."""
    import onnx

    count: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            count[name] = count.get(name, 0) + 1
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
            for sub in subgraphs:
                for name, n in _readers(sub).items():
                    count[name] = count.get(name, 0) + n
    return count


def _as_2d(node: Any, prefix: str, axes: str, opset: int) -> list[Any]:
    """``node`` (1-D) as Unsqueeze, the 2-D convolution and Squeeze, writing the same output tensor;
    the tensors between them named from ``prefix`` (a name the graph does not use)."""
    import onnx

    wide, out = f"{prefix}_in", f"{prefix}_out"
    attributes = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if attribute.name in _AXIS_DEFAULTS:
            value = [_AXIS_DEFAULTS[attribute.name], *value]
        elif attribute.name == "pads":  # [begin, end] -> [top, begin, bottom, end]
            value = [0, value[0], 0, value[1]]
        attributes[attribute.name] = value
    conv = onnx.helper.make_node(node.op_type, [wide, *node.input[1:]], [out], name=f"{node.name or prefix}_conv2d",
                                 doc_string=node.doc_string or None, domain=node.domain or None, **attributes)
    if opset >= 13:
        return [onnx.helper.make_node("Unsqueeze", [node.input[0], axes], [wide]), conv,
                onnx.helper.make_node("Squeeze", [out, axes], [node.output[0]])]
    return [onnx.helper.make_node("Unsqueeze", [node.input[0]], [wide], axes=[2]), conv,
            onnx.helper.make_node("Squeeze", [out], [node.output[0]], axes=[2])]


def _fresh_name(graph: Any, base: str) -> str:
    """A tensor name ``graph`` does not use yet."""
    used = {init.name for init in graph.initializer} | {t for node in graph.node for t in (*node.input, *node.output)}
    name, n = base, 0
    while name in used:
        n += 1
        name = f"{base}_{n}"
    return name
