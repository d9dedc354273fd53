"""The one door to Keras internals: no other module of the library reads a private attribute."""

import ast
from pathlib import Path

import pytest

import keras_convert

PACKAGE = Path(keras_convert.__file__).parent
DOOR = "_keras_api.py"


def private_reads(path: Path) -> list[str]:
    """Reads of `obj._name` (but on `self`), `getattr(obj, "_name")`, imports of `keras.src`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
            found.append(f"line {node.lineno}: from {node.module}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and _is_private(str(node.args[1].value))
        ):
            found.append(f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize(
    "path", sorted(p for p in PACKAGE.glob("*.py") if p.name != DOOR), ids=lambda p: p.name
)
def test_only_the_door_reads_keras_privates(path):
    assert private_reads(path) == []


def test_the_audit_sees_private_reads():
    door = private_reads(PACKAGE / DOOR)
    assert any("._keras_history" in line for line in door)
    assert any("from keras.src" in line for line in door)
    assert any("getattr(..., '_keras_history')" in line for line in door)
