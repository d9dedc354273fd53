"""The one door to Keras internals: no other module of the library reads Keras's internals.

Two kinds of reads are audited in every module but `_keras_api.py`: private names
(`obj._name`, `getattr(obj, "_name")`, imports of `keras.src`), and the attributes of Keras's
`Node` (the record of a call), which are public Python but not public Keras API. Nodes are
read once, in the door, into `Call` records; the tests below check that no Node escapes.
"""

import ast
from pathlib import Path

import keras
import pytest

import keras_convert
from keras_convert import UnsupportedKerasError
from keras_convert._keras_api import Call, producer, source_operation
from keras_convert.graph import read_graph

PACKAGE = Path(keras_convert.__file__).parent
DOOR = "_keras_api.py"
# What a keras.src.ops.node.Node has that a Call does not: reading one of these anywhere
# but in the door means a raw Node got through.
NODE_ONLY = {"arguments", "input_tensors", "output_tensors", "is_input", "parent_nodes"}
READERS = ("getattr", "hasattr", "setattr", "_read")


def internal_reads(path: Path) -> list[str]:
    """Private reads, `keras.src` imports, and reads of Node-only attributes, by line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if _is_private(node.attr) and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"
            ):
                found.append(f"line {node.lineno}: .{node.attr}")
            elif node.attr in NODE_ONLY:
                found.append(f"line {node.lineno}: .{node.attr} (a Node attribute)")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
            found.append(f"line {node.lineno}: from {node.module}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in READERS
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and (_is_private(str(node.args[1].value)) or node.args[1].value in NODE_ONLY)
        ):
            found.append(f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize(
    "path", sorted(p for p in PACKAGE.glob("*.py") if p.name != DOOR), ids=lambda p: p.name
)
def test_only_the_door_reads_keras_internals(path):
    assert internal_reads(path) == []


def test_the_audit_sees_each_kind_of_read():
    door = internal_reads(PACKAGE / DOOR)
    assert any("._node" in line for line in door)
    assert any("from keras.src" in line for line in door)
    assert any("_read(..., '_keras_history')" in line for line in door)
    assert any("_read(..., 'is_input')" in line for line in door)
    assert any("getattr(..., '_call_context_args')" in line for line in door)


def residual():
    inputs = keras.Input((4,), name="x")
    a = keras.layers.Dense(4, name="a")(inputs)
    merged = keras.layers.Add(name="add")([a, keras.layers.Dense(4, name="b")(a)])
    return keras.Model(inputs, keras.ops.relu(merged), name="residual")


def test_no_keras_node_leaves_the_door():
    graph = read_graph(residual())
    assert graph.nodes and all(type(node) is Call for node in graph.nodes)
    for node in graph.nodes:
        assert producer(node.outputs[0]) is node  # one record per call, however reached
        assert not any(hasattr(node, name) for name in NODE_ONLY)


class Bare:
    """An object without the attributes the door reads."""


def test_a_missing_internal_attribute_fails_loudly_naming_the_keras_version():
    with pytest.raises(UnsupportedKerasError) as error:
        source_operation(Bare())
    message = str(error.value)
    assert "`Bare._keras_history`" in message
    assert f"Keras {keras.__version__} does not have" in message
    assert "Keras 3.6 to 3.15 do" in message
