"""1-D convolutions rewritten as 2-D ones (onnx_conv2d): the same outputs, through onnxruntime itself."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from otio_dub.engines.onnx_conv2d import as_conv2d  # noqa: E402


def _model(opset: int) -> onnx.ModelProto:
    """x (1, 8, T) through a strided, dilated, padded Conv with bias, a grouped Conv, a ConvTranspose
    and a Conv whose weight another Conv shares (left 1-D)."""
    rng = np.random.default_rng(3)

    def weight(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    inits = [weight("w1", 16, 8, 5), weight("b1", 16), weight("w2", 16, 4, 3), weight("w3", 16, 8, 4),
             weight("ws", 8, 8, 3)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["a"], kernel_shape=[5], pads=[2, 1], strides=[2], dilations=[2],
                         name="c1"),
        helper.make_node("Conv", ["a", "w2"], ["b"], pads=[1, 1], group=4, name="c2"),
        helper.make_node("ConvTranspose", ["b", "w3"], ["c"], strides=[3], output_padding=[1], name="t1"),
        helper.make_node("Conv", ["x", "ws"], ["d"], pads=[1, 1], name="s1"),
        helper.make_node("Conv", ["d", "ws"], ["e"], pads=[1, 1], name="s2"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, None])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8, None]) for n in ("c", "e")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7)


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, {"x": x})


@pytest.mark.parametrize("opset", [11, 15])
def test_rewritten_model_computes_the_same(opset):
    model = _model(opset)
    x = np.random.default_rng(5).standard_normal((1, 8, 97)).astype(np.float32)
    before = _run(model, x)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert as_conv2d(rewritten) == 3  # the shared weight's two convolutions are left alone
    onnx.checker.check_model(rewritten)
    after = _run(rewritten, x)
    for one, other in zip(before, after, strict=True):
        assert one.shape == other.shape
        np.testing.assert_allclose(other, one, rtol=1e-4, atol=1e-4)
    convs = {n.name: n for n in rewritten.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    assert {n for n, node in convs.items() if n.endswith("_conv2d")} == {"c1_conv2d", "c2_conv2d", "t1_conv2d"}
    shapes = {i.name: list(i.dims) for i in rewritten.graph.initializer}
    assert shapes["w1"] == [16, 8, 1, 5] and shapes["ws"] == [8, 8, 3]
    pads = {a.name: list(a.ints) for a in convs["c1_conv2d"].attribute}
    assert pads == {"kernel_shape": [1, 5], "pads": [0, 2, 0, 1], "strides": [1, 2], "dilations": [1, 2]}


def test_convolutions_whose_rewrite_could_change_another_reader_are_left_alone():
    """A weight also declared as a graph input, one a subgraph reads too, and a ConvTranspose with an
    explicit output_shape keep their 1-D form; the model still computes what it did."""
    rng = np.random.default_rng(2)
    w = {n: numpy_helper.from_array(rng.standard_normal((8, 8, 3)).astype(np.float32), n) for n in ("wi", "wg", "wt")}
    branch = helper.make_graph([helper.make_node("Identity", ["wg"], ["seen"])], "b", [],
                               [helper.make_tensor_value_info("seen", TensorProto.FLOAT, [8, 8, 3])])
    nodes = [helper.make_node("Conv", ["x", "wi"], ["a"], pads=[1, 1]),
             helper.make_node("Conv", ["a", "wg"], ["b"], pads=[1, 1]),
             helper.make_node("ConvTranspose", ["b", "wt"], ["c"], output_shape=[20]),
             helper.make_node("If", ["flag"], ["g"], then_branch=branch, else_branch=branch)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 20]),
                                           helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
                                           helper.make_tensor_value_info("wi", TensorProto.FLOAT, [8, 8, 3])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 8, 20]),
                               helper.make_tensor_value_info("g", TensorProto.FLOAT, [8, 8, 3])], list(w.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=7)
    before = model.SerializeToString()
    assert as_conv2d(model) == 0
    assert model.SerializeToString() == before


def test_a_model_without_1d_convolutions_is_left_as_it_is():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    before = model.SerializeToString()
    assert as_conv2d(model) == 0
    assert model.SerializeToString() == before


def test_a_session_from_bytes_does_not_keep_them():
    """The workaround in ``cpu_session``: onnxruntime's Python session would hold its model's bytes."""
    from otio_dub.engines.onnx_session import cpu_session

    data = _model(15).SerializeToString()
    session = cpu_session(data)
    assert getattr(session, "_model_bytes", None) is None
    assert session.run(None, {"x": np.ones((1, 8, 20), dtype=np.float32)})[0].shape[1] == 8  # ConvTranspose: 16 in, 8 out


def test_a_shrinking_session_computes_the_same_and_shrinks_its_arena_after_each_run():
    from otio_dub.engines.onnx_session import ShrinkingSession, cpu_session

    data = _model(15).SerializeToString()
    x = {"x": np.random.default_rng(1).standard_normal((1, 8, 50)).astype(np.float32)}
    plain, shrinking = cpu_session(data), cpu_session(data, shrink=True)
    assert isinstance(shrinking, ShrinkingSession) and not isinstance(plain, ShrinkingSession)
    for one, other in zip(plain.run(None, x), shrinking.run(None, x), strict=True):
        np.testing.assert_array_equal(one, other)
    assert shrinking.options.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    assert shrinking.get_inputs()[0].name == "x"  # everything else is the session's own
    assert shrinking.get_session_options().enable_cpu_mem_arena is True
