"""One test per kind of invalid architecture: the right GraphError subclass, a ValueError, naming the node.

Each case builds a small valid network and breaks it in one way; the table lists the error class
and the node the message must name (None where the problem has no single node, e.g. a missing
input: then the message must name the graph).
"""
from __future__ import annotations

import json
import pickle
from typing import Callable

import networkx as nx
import numpy as np
import pytest

import nas
from nas import GraphBuilder, GraphError, OpError, SerializationError, ShapeError, StructureError
from nas.graph import Architecture


def small_net(**conv: object) -> GraphBuilder:
    """input (3x16x16) -> conv 'stem' (8 ch) -> relu 'act'; the caller adds the rest and the head."""
    b = GraphBuilder()
    attrs = {"out": 8, "k": 3, "padding": 1, **conv}
    b.node("conv", b.input, "stem", **attrs)
    b.relu("stem", name="act")
    return b


def finish(b: GraphBuilder, x: str, cells: dict[str, nx.DiGraph] | None = None, classes: int = 10) -> Architecture:
    b.output(b.linear(b.gap(x, name="pool"), classes, name="fc"))
    return b.build((3, 16, 16), classes, "broken", cells=cells)


def valid() -> Architecture:
    b = small_net()
    return finish(b, "act")


def residual_cell() -> nx.DiGraph:
    """A one-input cell: in0 -> conv(C) 'body' -> add(in0, body) 'sum'."""
    cb = GraphBuilder(n_inputs=1, cell=True)
    y = cb.conv(cb.input, "C", k="K", padding="P", name="body")
    cb.output(cb.add([cb.input, y], name="sum"))
    return cb.graph


# ------------------------------------------------------------------------------ structure


def cycle() -> Architecture:
    a = valid()
    a.graph.add_edge("act", "stem", port=1)
    return a


def unreachable_node() -> Architecture:
    b = small_net()
    b.graph.add_node("orphan", op="relu")
    b.graph.add_node("join", op="add")
    b.graph.add_edge("act", "join", port=0)
    b.graph.add_edge("orphan", "join", port=1)
    return finish(b, "join")


def dangling_node() -> Architecture:
    b = small_net()
    b.node("conv", "act", "side", out=4, k=1)
    return finish(b, "act")


def missing_input() -> Architecture:
    a = valid()
    a.graph.remove_node("input")
    return a


def missing_output() -> Architecture:
    a = valid()
    a.graph.remove_node("output")
    return a


def missing_cell_input() -> Architecture:
    cell = residual_cell()
    nx.relabel_nodes(cell, {"in0": "first"}, copy=False)
    cell.nodes["first"]["index"] = 1  # the only input claims port 1: port 0 is missing
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    return finish(b, "block", {"res": cell})


def two_outputs() -> Architecture:
    a = valid()
    a.graph.add_node("extra_out", op="output")
    a.graph.add_edge("act", "extra_out", port=0)
    return a


def too_few_inputs_add() -> Architecture:
    b = small_net()
    b.add(["act"], name="lonely_add")
    return finish(b, "lonely_add")


def too_many_inputs_relu() -> Architecture:
    b = small_net()
    b.conv("act", 8, k=1, name="side")
    b.node("relu", ["act", "side"], "double_relu")
    return finish(b, "double_relu")


def gate_two_inputs() -> Architecture:
    b = small_net()
    b.act("act", "sigmoid", name="t")
    b.node("gate", ["act", "t"], "half_gate")
    return finish(b, "half_gate")


def concat_duplicate_ports() -> Architecture:
    b = small_net()
    b.conv("act", 4, k=1, name="side")
    b.concat(["act", "side"], name="cat")
    b.graph.edges["side", "cat"]["port"] = 0
    return finish(b, "cat")


def cell_arity() -> Architecture:
    b = small_net()
    b.conv("act", 8, k=1, name="side")
    b.cell("res", ["act", "side"], name="block", C=8, K=3, P=1)
    return finish(b, "block", {"res": residual_cell()})


def cell_inside_cell() -> Architecture:
    cell = residual_cell()
    cell.add_node("nested", op="cell", cell="res", params={})
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    return finish(b, "block", {"res": cell})


def non_string_name() -> Architecture:
    a = valid()
    nx.relabel_nodes(a.graph, {"act": 7}, copy=False)
    return a


# ------------------------------------------------------------------------------ ops and attributes


def unknown_op() -> Architecture:
    b = small_net()
    b.node("conv3x3", "act", "mystery")
    return finish(b, "mystery")


def missing_attribute() -> Architecture:
    b = small_net()
    b.node("conv", "act", "no_width", k=3, padding=1)
    return finish(b, "no_width")


def unknown_attribute() -> Architecture:
    b = small_net()
    b.node("relu", "act", "relu_inplace", inplace=True)
    return finish(b, "relu_inplace")


def ill_typed_attribute() -> Architecture:
    b = small_net()
    b.node("conv", "act", "typo", out=8, k="3x3", padding=1)
    return finish(b, "typo")


def bool_as_int_attribute() -> Architecture:
    b = small_net()
    b.node("conv", "act", "flagged", out=True, k=3, padding=1)
    return finish(b, "flagged")


def non_plain_attribute() -> Architecture:
    b = small_net()
    b.node("conv", "act", "numpy_width", out=np.int64(8), k=1)
    return finish(b, "numpy_width")


def non_plain_tag() -> Architecture:
    b = small_net()
    b.node("relu", "act", "tagged", tag={"a", "set"})
    return finish(b, "tagged")


def kernel_below_1() -> Architecture:
    b = small_net()
    b.node("conv", "act", "k0", out=8, k=0)
    return finish(b, "k0")


def pool_kernel_below_1() -> Architecture:
    b = small_net()
    b.node("maxpool", "act", "pool0", k=[2, 0])
    return finish(b, "pool0")


def groups_not_dividing() -> Architecture:
    b = small_net()
    b.conv("act", 9, k=3, groups=3, name="grouped")  # 8 input channels are not divisible by 3
    return finish(b, "grouped")


def negative_padding() -> Architecture:
    b = small_net()
    b.node("conv", "act", "neg_pad", out=8, k=3, padding=-1)
    return finish(b, "neg_pad")


def pool_padding_over_half() -> Architecture:
    b = small_net()
    b.maxpool("act", 2, padding=2, name="wide_pad")
    return finish(b, "wide_pad")


def unknown_cell() -> Architecture:
    b = small_net()
    b.cell("nope", "act", name="block", C=8)
    return finish(b, "block", {"res": residual_cell()})


def bad_cell_expression() -> Architecture:
    cell = residual_cell()
    cell.nodes["body"]["out"] = "C+1"
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    return finish(b, "block", {"res": cell})


def cell_expression_not_whole() -> Architecture:
    cell = residual_cell()
    cell.nodes["body"]["out"] = "C/3"
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    return finish(b, "block", {"res": cell})


def cell_parameter_not_given() -> Architecture:
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3)  # P missing
    return finish(b, "block", {"res": residual_cell()})


def cell_params_not_ints() -> Architecture:
    b = small_net()
    b.node("cell", "act", "block", cell="res", params={"C": "8", "K": 3, "P": 1})
    return finish(b, "block", {"res": residual_cell()})


# ------------------------------------------------------------------------------ shapes


def channel_mismatch_add() -> Architecture:
    b = small_net()
    b.conv("act", 6, k=1, name="narrow")
    b.add(["act", "narrow"], name="sum")
    return finish(b, "sum")


def channel_mismatch_gate() -> Architecture:
    b = small_net()
    b.act(b.conv("act", 4, k=1, name="t_conv"), "sigmoid", name="t")
    b.conv("act", 8, k=1, name="h")
    b.gate("h", "t", "act", name="highway")
    return finish(b, "highway")


def spatial_mismatch_add() -> Architecture:
    b = small_net()
    b.maxpool("act", 2, name="half")
    b.add(["act", "half"], name="sum")
    return finish(b, "sum")


def spatial_mismatch_concat() -> Architecture:
    b = small_net()
    b.conv("act", 8, k=3, stride=2, name="down")
    b.concat(["down", "act"], name="cat")
    return finish(b, "cat")


def map_below_1x1() -> Architecture:
    b = small_net()
    b.conv("act", 8, k=17, padding=0, name="huge_kernel")
    return finish(b, "huge_kernel")


def crop_below_1x1() -> Architecture:
    b = small_net()
    b.node("crop", "act", "over_crop", top=8, bottom=8)
    return finish(b, "over_crop")


def conv_on_vector() -> Architecture:
    b = small_net()
    b.gap("act", name="vec")
    b.conv("vec", 8, k=1, name="conv_vec")
    b.output(b.linear(b.flatten("conv_vec"), 10, name="fc"))
    return b.build((3, 16, 16), 10)


def linear_on_map() -> Architecture:
    b = small_net()
    b.output(b.linear("act", 10, name="fc_on_map"))
    return b.build((3, 16, 16), 10)


def wrong_class_count() -> Architecture:
    b = small_net()
    b.output(b.linear(b.gap("act"), 7, name="fc"), name="logits")
    return b.build((3, 16, 16), 10)


def output_not_a_vector() -> Architecture:
    b = small_net()
    b.output(b.conv("act", 10, k=1, name="fc_conv"), name="logits")
    return b.build((3, 16, 16), 10)


def bad_input_shape() -> Architecture:
    return valid().copy(input_shape=(3, 0, 16))


CASES: list[tuple[Callable[[], Architecture], type[GraphError], str | None, str]] = [
    # builder, error class, node the message names (None: none), a word the message contains
    (cycle, StructureError, "stem", "cycle"),
    (unreachable_node, StructureError, "orphan", "unreachable"),
    (dangling_node, StructureError, "side", "dangling"),
    (missing_input, StructureError, None, "no input node"),
    (missing_output, StructureError, None, "no output node"),
    (missing_cell_input, StructureError, None, "res"),
    (two_outputs, StructureError, "extra_out", "one output"),
    (too_few_inputs_add, StructureError, "lonely_add", "at least 2"),
    (too_many_inputs_relu, StructureError, "double_relu", "exactly 1"),
    (gate_two_inputs, StructureError, "half_gate", "exactly 3"),
    (concat_duplicate_ports, StructureError, "cat", "ports"),
    (cell_arity, StructureError, "block", "takes 1 input"),
    (cell_inside_cell, StructureError, "res/nested", "cannot contain cells"),
    (non_string_name, StructureError, "7", "strings"),
    (unknown_op, OpError, "mystery", "unknown op"),
    (missing_attribute, OpError, "no_width", "'out'"),
    (unknown_attribute, OpError, "relu_inplace", "inplace"),
    (ill_typed_attribute, OpError, "typo", "'k'"),
    (bool_as_int_attribute, OpError, "flagged", "'out'"),
    (non_plain_attribute, OpError, "numpy_width", "'out'"),
    (non_plain_tag, OpError, "tagged", "tag"),
    (kernel_below_1, OpError, "k0", "'k'"),
    (pool_kernel_below_1, OpError, "pool0", "'k'"),
    (groups_not_dividing, OpError, "grouped", "groups"),
    (negative_padding, OpError, "neg_pad", "'padding'"),
    (pool_padding_over_half, OpError, "wide_pad", "half the kernel"),
    (unknown_cell, OpError, "block", "nope"),
    (bad_cell_expression, OpError, "block/body", "C+1"),
    (cell_expression_not_whole, OpError, "block/body", "whole number"),
    (cell_parameter_not_given, OpError, "block/body", "'P'"),
    (cell_params_not_ints, OpError, "block", "params"),
    (channel_mismatch_add, ShapeError, "sum", "channels"),
    (channel_mismatch_gate, ShapeError, "highway", "channels"),
    (spatial_mismatch_add, ShapeError, "sum", "spatial"),
    (spatial_mismatch_concat, ShapeError, "cat", "spatial"),
    (map_below_1x1, ShapeError, "huge_kernel", "below 1x1"),
    (crop_below_1x1, ShapeError, "over_crop", "below 1x1"),
    (conv_on_vector, ShapeError, "conv_vec", "feature map"),
    (linear_on_map, ShapeError, "fc_on_map", "vector"),
    (wrong_class_count, ShapeError, "logits", "num_classes=10"),
    (output_not_a_vector, ShapeError, "logits", "vector"),
    (bad_input_shape, ShapeError, None, "input shape"),
]


@pytest.mark.parametrize(("make", "error", "node", "word"), CASES, ids=[c[0].__name__ for c in CASES])
def test_invalid_graph_raises_typed_error_naming_node(
    make: Callable[[], Architecture], error: type[GraphError], node: str | None, word: str
) -> None:
    arch = make()
    for check in (nas.validate, nas.count, nas.compile, nas.arch_hash):
        with pytest.raises(error) as info:
            check(arch)
        err = info.value
        assert isinstance(err, ValueError) and isinstance(err, GraphError)
        assert word in str(err), str(err)
        if node is not None:
            assert err.node == node and repr(node) in str(err), str(err)
    # The same problem survives a JSON round trip (or is caught while writing/reading it).
    with pytest.raises(GraphError):
        nas.from_json(nas.to_json(arch))


def test_the_valid_base_network_is_valid() -> None:
    """The cases above each break exactly one thing of this network."""
    nas.validate(valid())
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    assert nas.count(finish(b, "block", {"res": residual_cell()})).params > 0


def test_error_classes_are_value_errors_with_kinds() -> None:
    kinds = {cls.kind for cls in (GraphError, StructureError, OpError, ShapeError, SerializationError)}
    assert len(kinds) == 5
    for cls in (StructureError, OpError, ShapeError, SerializationError):
        assert issubclass(cls, GraphError) and issubclass(cls, ValueError)
    err = ShapeError("bad", "n1")
    assert err.node == "n1" and err.message == "bad" and str(err) == "node 'n1': bad"


def test_cell_structure_errors_name_the_cell() -> None:
    cell = residual_cell()
    cell.remove_node("output")
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    with pytest.raises(StructureError, match="res has no output node"):
        nas.validate(finish(b, "block", {"res": cell}))
    cell = residual_cell()
    cell.add_node("lost", op="relu")
    cell.add_edge("body", "lost")
    b = small_net()
    b.cell("res", "act", name="block", C=8, K=3, P=1)
    with pytest.raises(StructureError) as info:
        nas.validate(finish(b, "block", {"res": cell}))
    assert info.value.node == "res/lost" and "dangling" in str(info.value)


def test_not_an_architecture() -> None:
    with pytest.raises(GraphError, match="expected a nas.Architecture"):
        nas.validate(valid().graph)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ JSON


def doc() -> dict:
    return json.loads(nas.to_json(valid()))


def json_case(change: Callable[[dict], object]) -> str:
    d = doc()
    change(d)
    return json.dumps(d)


JSON_CASES: list[tuple[str, str | bytes, str]] = [
    # id, text, a word the message contains
    ("invalid_json", '{"format": "nas.architecture/1", "graph": ', "not valid JSON"),
    ("empty", "", "not valid JSON"),
    ("not_an_object", "[1, 2, 3]", "must be an object"),
    ("unknown_format", json_case(lambda d: d.update(format="nas.architecture/99")), "unknown format"),
    ("input_shape_not_ints", json_case(lambda d: d.update(input_shape=[3.0, 16, 16])), "input_shape"),
    ("num_classes_string", json_case(lambda d: d.update(num_classes="10")), "num_classes"),
    ("graph_missing", json_case(lambda d: d.pop("graph")), "'nodes' and 'edges'"),
    ("cells_not_object", json_case(lambda d: d.update(cells=[1])), "cells"),
    ("meta_not_object", json_case(lambda d: d.update(meta="x")), "meta"),
    ("name_not_string", json_case(lambda d: d.update(name=3)), "name"),
    ("node_id_not_string", json_case(lambda d: d["graph"]["nodes"][1].update(id=5)), "string 'id'"),
    ("duplicate_node", json_case(lambda d: d["graph"]["nodes"].append({"id": "stem", "op": "relu"})), "'stem' appears twice"),
    ("non_plain_attribute", json_case(lambda d: d["graph"]["nodes"][1].update(k=[[[[[[3]]]]]])), "'stem'"),
    ("edge_to_missing_node", json_case(lambda d: d["graph"]["edges"][0].update(target="ghost")), "ghost"),
    ("edge_from_missing_node", json_case(lambda d: d["graph"]["edges"][1].update(source="phantom")), "phantom"),
    ("edge_extra_key", json_case(lambda d: d["graph"]["edges"][0].update(weight=1)), "port"),
    ("edge_port_not_int", json_case(lambda d: d["graph"]["edges"][0].update(port="0")), "port"),
    ("eval_payload", "__import__('os').system('echo pwned')", "not valid JSON"),
    ("eval_in_value", '{"format": "nas.architecture/1", "input_shape": eval("[3,16,16]")}', "not valid JSON"),
    ("pickle_payload", pickle.dumps({"graph": "x"}), "not valid JSON"),
    ("pickle_payload_as_text", pickle.dumps([1]).decode("latin-1"), "not valid JSON"),
    ("deep_nesting", "[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ("huge_integer", '{"num_classes": ' + "9" * 5000 + "}", "not valid JSON"),
    ("invalid_utf8", b'{"format": "\xff\xfe"}', "not valid JSON"),
]


@pytest.mark.parametrize(("text", "word"), [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES])
def test_bad_json_is_rejected_with_serialization_error(text: str | bytes, word: str) -> None:
    with pytest.raises(SerializationError) as info:
        nas.from_json(text)
    assert isinstance(info.value, ValueError)
    assert word in str(info.value), str(info.value)


def test_payload_strings_are_plain_data_never_run() -> None:
    """Strings that look like code are just unknown ops/attributes: rejected, not evaluated."""
    d = doc()
    d["graph"]["nodes"][1]["op"] = "__import__('os').system('touch /tmp/nas-pwned')"
    with pytest.raises(OpError, match="unknown op") as info:
        nas.from_json(json.dumps(d))
    assert info.value.node == "stem"
    d = doc()
    d["graph"]["nodes"][1]["out"] = "eval('8')"
    with pytest.raises(OpError, match="'out'"):
        nas.from_json(json.dumps(d))


def test_writing_non_plain_values_raises_serialization_error_naming_node() -> None:
    arch = valid()
    arch.graph.nodes["act"]["tag"] = object()
    with pytest.raises(SerializationError) as info:
        nas.to_json(arch)
    assert info.value.node == "act"
    arch = valid()
    arch.meta["weights"] = np.zeros(3)
    with pytest.raises(SerializationError, match="cannot be written as JSON"):
        nas.to_json(arch)


def test_json_validation_errors_keep_their_class() -> None:
    """Well-formed JSON of an invalid network raises the network's error, not SerializationError."""
    d = doc()
    d["graph"]["edges"].append({"source": "act", "target": "stem", "port": 1})
    with pytest.raises(StructureError, match="cycle"):
        nas.from_json(json.dumps(d))
    assert nas.from_json(json.dumps(d), check=False).graph.has_edge("act", "stem")


def test_repeated_input_is_refused_by_the_builder() -> None:
    b = nas.GraphBuilder()
    x = b.conv(b.input, 8, 3)
    with pytest.raises(nas.GraphError, match="identity node"):
        b.concat([x, x])


def test_repeated_edge_in_json_is_a_serialization_error() -> None:
    b = nas.GraphBuilder()
    x = b.conv(b.input, 8, 3)
    y = b.concat([x, b.node("identity", x)])
    b.output(b.linear(b.gap(y), 10))
    doc = json.loads(nas.to_json(b.build((3, 8, 8), 10)))
    doc["graph"]["edges"].append(dict(doc["graph"]["edges"][-1]))
    with pytest.raises(nas.SerializationError, match="appears twice"):
        nas.from_json(json.dumps(doc))


def test_absurd_widths_are_refused_before_allocation() -> None:
    b = nas.GraphBuilder()
    b.output(b.linear(b.gap(b.conv(b.input, 2**40, 3)), 10))
    with pytest.raises(nas.OpError, match="between 1 and"):
        nas.validate(b.build((3, 8, 8), 10))
