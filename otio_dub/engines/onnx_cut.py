"""Cutting one tensor out of an ONNX model: the part of a voice that predicts its phonemes' durations.

Piper and Kokoro both predict every phoneme's width before their decoder turns widths into audio,
and a take's length is then an exact function of those widths and the speed. The predictor is a
small part of the model (a tenth of a synthesis or less), so it is cut out into a model of its own
and run before a line is spoken: the line's rate is then known, and one synthesis lands.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

log = logging.getLogger("otio_dub")


def onnx_works() -> bool:
    """Whether the onnx package imports (an install broken by another protobuf raises more than ImportError)."""
    if importlib.util.find_spec("onnx") is None:
        return False
    try:
        import onnx  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure: fit by measuring, and say why in the debug log
        log.debug("onnx does not import (%s): lines are fitted by measuring", exc)
        return False
    return True


def cut(graph: Any, output: str, name: str) -> bytes:
    """The nodes and weights ``output`` depends on in ``graph`` (an ``onnx.ModelProto``), back to the
    model's inputs, as a model of its own (serialised) whose one output is ``output`` (float)."""
    import onnx

    made = {out: node for node in graph.graph.node for out in node.output}
    weights = {init.name: init for init in graph.graph.initializer}
    needed, stack, seen = [], [output], set()
    while stack:  # every node the output depends on, back to the inputs and weights
        tensor = stack.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        if tensor in made:
            needed.append(made[tensor])
            stack.extend(i for i in made[tensor].input if i)
    order = {id(node): n for n, node in enumerate(graph.graph.node)}
    nodes = sorted({id(node): node for node in needed}.values(), key=lambda node: order[id(node)])
    part = onnx.helper.make_graph(
        nodes, name, [i for i in graph.graph.input if i.name in seen],
        [onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
        [weights[w] for w in sorted(seen & weights.keys())])
    return onnx.helper.make_model(part, opset_imports=graph.opset_import, ir_version=graph.ir_version).SerializeToString()
