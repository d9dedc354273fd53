"""The one door to Keras internals: no other module of the library reads Keras's internals.

`internal_reads` audits every module of the package but `_keras_api.py`, subpackages
included, for each way Python offers to reach a private part of Keras:
- private names: `obj._name` (see `own_attributes` for the one exemption), and
  `getattr`/`hasattr`/`setattr`/`delattr` with a private constant name;
- private modules (`keras.src`, and `tf_keras`, which the library never imports): `import`,
  `from ... import`, an attribute chain through them, `importlib.import_module` or
  `__import__` of one, or of a module named at run time; `sys.modules`;
- reads by a name computed at run time, which could be private: `getattr` and its kin with
  a non-constant name, `vars`, `__dict__`, `__getattribute__`, `operator.attrgetter` and
  `methodcaller`, `inspect.getattr_static`, `eval`, `exec`, or one of these passed around;
- the attributes of Keras's `Node` (the record of a call), which are public Python but not
  public Keras API. Nodes are read once, in the door, into `Call` records; the tests below
  check that no Node escapes.
`test_the_audit_flags_each_way_around_the_door` feeds it one probe per way, so that the
audit cannot silently weaken.
"""

import ast
import builtins
from pathlib import Path

import keras
import pytest

import keras_convert
from keras_convert import UnsupportedKerasError, _versions
from keras_convert._keras_api import producer, source_operation
from keras_convert.graph import read_graph
from tests.helpers import residual

PACKAGE = Path(keras_convert.__file__).parent
DOOR = "_keras_api.py"
PRIVATE_MODULES = ("keras.src", "tf_keras")
# What a keras.src.ops.node.Node has that a Call does not: reading one of these anywhere
# but in the door means a raw Node got through.
NODE_ONLY = {"arguments", "input_tensors", "output_tensors", "is_input", "parent_nodes"}
# By the name an import resolves them to (`from importlib import import_module` included).
READERS = {"getattr", "hasattr", "setattr", "delattr", "_read"}
IMPORTERS = {"importlib.import_module", "__import__", "importlib.__import__"}
OPAQUE = {
    "vars",
    "eval",
    "exec",
    "operator.attrgetter",
    "operator.methodcaller",
    "inspect.getattr_static",
}
OPAQUE_ATTRIBUTES = {"__dict__", "__getattribute__"}
# Dynamic reads outside the door that provably touch no Keras object, by module and finding
# (line number left out). Editing one of these expressions drops its exemption, so the audit
# looks at it again; `test_every_exemption_is_still_needed` removes stale ones.
NOT_KERAS = {
    "__init__.py": {
        # The lazy re-export of keras_convert's own public names (`_MODULE_OF`).
        "getattr(importlib.import_module(f'keras_convert.{module}'), name)"
        " (a name computed at run time)",
    },
    "cli.py": {
        # The module the user asks for, so that it registers their custom objects.
        "importlib.import_module(name) (a module named at run time)",
    },
    "exporting.py": {
        # An export format's runtime (`_Format.runtime`: onnxruntime, ...), for its version.
        "importlib.import_module(module) (a module named at run time)",
        # jax2onnx's plugin registry, not Keras's (`_jax2onnx_plugins_for_jax_alone`).
        "plugin_system._already_imported_plugins (a private attribute)",
        "plugin_system._import_tree (a private attribute)",
    },
}


def audited(package: Path) -> list[Path]:
    """Every module of `package`, subpackages included, but the door."""
    return sorted(path for path in package.rglob("*.py") if path != package / DOOR)


def internal_reads(source: str) -> list[str]:
    """Each read of Keras internals in a module's `source`, as "line N: code (why)"."""
    tree = ast.parse(source)
    aliases = import_aliases(tree)
    own = own_attributes(tree)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        for why in _why_internal(node, aliases, own, parents):
            reported = parents.get(id(node)) if why == "the loaded modules" else node
            found.append(f"line {node.lineno}: {ast.unparse(reported)} ({why})")
    return found


def _why_internal(node: ast.AST, aliases: dict, own: set, parents: dict) -> list[str]:
    if isinstance(node, ast.Import):
        return [f"imports {a.name}" for a in node.names if _is_private_module(a.name)]
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        names = [f"{module}.{alias.name}" for alias in node.names]
        why = [f"imports {name}" for name in names if _is_private_module(name)]
        return why + [f"imports {name}" for name in names if name in OPAQUE]
    if isinstance(node, ast.Call):
        return _why_call(node, aliases)
    if isinstance(node, ast.Name | ast.Attribute):
        return _why_reference(node, aliases, own, parents)
    return []


def _why_reference(node: ast.AST, aliases: dict, own: set, parents: dict) -> list[str]:
    name = _dotted(node, aliases)
    parent = parents.get(id(node))
    called = isinstance(parent, ast.Call) and parent.func is node
    why = []
    if name in OPAQUE:
        why.append("reads by a name computed at run time")
    elif name in READERS | IMPORTERS and not called:
        why.append(f"passes {name} around")
    if isinstance(node, ast.Name):
        return why
    base = _dotted(node.value, aliases)
    if name is not None and _is_private_module(name):
        if base is None or not _is_private_module(base):
            why.append("a private module")
    elif name == "sys.modules" and not (
        isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store)
    ):
        why.append("the loaded modules")
    elif node.attr in OPAQUE_ATTRIBUTES:
        why.append("reads by a name computed at run time")
    elif _is_private(node.attr) and id(node) not in own:
        why.append("a private attribute")
    elif node.attr in NODE_ONLY:
        why.append("a Node attribute")
    return why


def _why_call(node: ast.Call, aliases: dict) -> list[str]:
    function = _dotted(node.func, aliases)
    if function in READERS:
        if len(node.args) < 2 or any(isinstance(a, ast.Starred) for a in node.args[:2]):
            return ["a name computed at run time"]
        attribute = node.args[1]
        if not (isinstance(attribute, ast.Constant) and isinstance(attribute.value, str)):
            return ["a name computed at run time"]
        if _is_private(attribute.value):
            return ["a private attribute"]
        base = _dotted(node.args[0], aliases)
        if base is not None and _is_private_module(f"{base}.{attribute.value}"):
            return ["a private module"]
        return ["a Node attribute"] if attribute.value in NODE_ONLY else []
    if function in IMPORTERS:
        module = _known_prefix(node.args[0]) if node.args else None
        if module is None or module.startswith("."):
            return ["a module named at run time"]
        return ["a private module"] if _may_be_private_module(module) else []
    return []


def _known_prefix(node: ast.AST) -> str | None:
    """The start of a module name that the source fixes (all of it, for a constant)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return node.values[0].value + "{"  # an import name holds no "{": never complete
    return None


def _may_be_private_module(start: str) -> bool:
    """Whether a module name that starts with `start` may be a private one."""
    known = start.removesuffix("{")
    return _is_private_module(known) or (
        start.endswith("{") and any(module.startswith(known) for module in PRIVATE_MODULES)
    )


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """What each name that an import binds stands for: `np` → `numpy`, `src` → `keras.src`."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def own_attributes(tree: ast.Module) -> set[int]:
    """The `self._name` reads that read the module's own state, not Keras's (their node ids).

    `self._name` is exempt only in a method of a class defined in the same module whose
    bases are all builtin classes or such classes themselves (so nothing it inherits is
    Keras's), and only for a name that class or one of those bases defines in its body or
    sets on `self` in a method.
    """
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}

    def local_bases(cls: ast.ClassDef) -> list[ast.ClassDef] | None:
        """The module's own classes `cls` derives from, or None if it derives from another."""
        bases = []
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in classes and base.id != cls.name:
                bases.append(classes[base.id])
            elif not (
                isinstance(base, ast.Name) and isinstance(getattr(builtins, base.id, None), type)
            ):
                return None
        return None if cls.keywords else bases

    def defined(cls: ast.ClassDef, seen: frozenset = frozenset()) -> set[str] | None:
        """The names `cls` and its ancestors define, or None if one is not the module's."""
        bases = local_bases(cls)
        if bases is None or cls.name in seen:
            return None
        names = {name for statement in cls.body for name in _defined_names(statement)}
        names |= {node.attr for node in _self_attributes(cls) if isinstance(node.ctx, ast.Store)}
        for base in bases:
            inherited = defined(base, seen | {cls.name})
            if inherited is None:
                return None
            names |= inherited
        return names

    exempt = set()
    for cls in classes.values():
        names = defined(cls) or set()
        exempt |= {id(node) for node in _self_attributes(cls) if node.attr in names}
    return exempt


def _self_attributes(cls: ast.ClassDef) -> list[ast.Attribute]:
    """Every `self.name` in the methods of `cls` (functions whose first parameter is self)."""
    methods = [
        function
        for function in cls.body
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        and function.args.args
        and function.args.args[0].arg == "self"
    ]
    return [
        node
        for method in methods
        for node in ast.walk(method)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ]


def _defined_names(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    if isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    return [target.id for target in targets if isinstance(target, ast.Name)]


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dotted name an expression stands for (imports resolved), or None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_private_module(name: str) -> bool:
    return any(name == module or name.startswith(f"{module}.") for module in PRIVATE_MODULES)


@pytest.mark.parametrize("path", audited(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_door_reads_keras_internals(path):
    exempt = NOT_KERAS.get(path.name, set())
    found = internal_reads(path.read_text(encoding="utf-8"))
    assert [read for read in found if read.split(": ", 1)[1] not in exempt] == []


def test_every_exemption_is_still_needed():
    for module, exempt in NOT_KERAS.items():
        found = {read.split(": ", 1)[1] for read in internal_reads(_source(module))}
        assert exempt <= found, module


def _source(module: str) -> str:
    return (PACKAGE / module).read_text(encoding="utf-8")


def test_the_audit_covers_subpackages_and_leaves_out_only_the_door(tmp_path):
    for module in (DOOR, "top.py", "sub/__init__.py", "sub/deeper/inner.py"):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text("", encoding="utf-8")
    names = [path.relative_to(tmp_path).as_posix() for path in audited(tmp_path)]
    assert names == ["sub/__init__.py", "sub/deeper/inner.py", "top.py"]


# One probe per way around the door; the read to be flagged is on the probe's last line.
PROBES = {
    "import keras.src": "import keras.src.ops.node",
    "import keras.src as": "import keras.src.backend as backend",
    "from keras import src": "from keras import src",
    "from keras.src import": "from keras.src.ops.node import Node",
    "import tf_keras": "from tf_keras.src.utils import generic_utils",
    "chain through keras.src": "import keras\nkeras.src.backend.get_keras_mask(t)",
    "chain through an alias": "import keras as k\nk.src.backend.get_keras_mask(t)",
    "getattr to keras.src": "import keras\ngetattr(keras, 'src')",
    "private attribute": "t._keras_history",
    "getattr private": "getattr(t, '_keras_history')",
    "hasattr private": "hasattr(t, '_keras_history')",
    "setattr private": "setattr(t, '_keras_history', None)",
    "getattr computed": "getattr(t, name)",
    "getattr f-string": "getattr(t, f'_{name}')",
    "getattr unpacked": "getattr(*pair)",
    "delattr computed": "delattr(t, name)",
    "getattr passed around": "read = getattr",
    "vars": "vars(t)['_keras_history']",
    "__dict__": "t.__dict__['_keras_history']",
    "__getattribute__": "object.__getattribute__(t, '_keras_history')",
    "attrgetter": "import operator\noperator.attrgetter('_inbound_nodes')(layer)",
    "from operator import attrgetter": "from operator import attrgetter",
    "methodcaller": "import operator\noperator.methodcaller('_method')(layer)",
    "getattr_static": "import inspect\ninspect.getattr_static(t, '_keras_history')",
    "eval": "eval('t._keras_history')",
    "self at module level": "def read(self):\n    return self._inbound_nodes",
    "self, not the class's attribute": (
        "class Reader:\n    def read(self):\n        return self._inbound_nodes"
    ),
    "self of a Keras subclass": (
        "import keras\nclass Layer(keras.layers.Layer):\n    def call(self, x):\n"
        "        self._inbound_nodes = []\n        return self._inbound_nodes"
    ),
    "self of a subclass of a Keras subclass": (
        "import keras\nclass Base(keras.layers.Layer):\n    _seen = 0\n"
        "class Layer(Base):\n    _seen = 1\n    def call(self, x):\n        return self._seen"
    ),
    "import_module keras.src": "import importlib\nimportlib.import_module('keras.src.ops.node')",
    "import_module imported": "from importlib import import_module\nimport_module('keras.src')",
    "import_module computed": "import importlib\nimportlib.import_module(name)",
    "import_module keras f-string": "import importlib\nimportlib.import_module(f'keras.{name}')",
    "import_module relative": "import importlib\nimportlib.import_module('.src', 'keras')",
    "__import__": "__import__('keras.src.backend')",
    "sys.modules": "import sys\nsys.modules['keras.src.backend'].get_keras_mask(t)",
    "Node attribute": "call.input_tensors",
}


@pytest.mark.parametrize("source", PROBES.values(), ids=PROBES.keys())
def test_the_audit_flags_each_way_around_the_door(source):
    last = source.count("\n") + 1
    assert any(read.startswith(f"line {last}: ") for read in internal_reads(source))


def test_the_audit_lets_public_reads_and_a_class_s_own_state_pass():
    clean = """
import importlib
import sys
import keras
from keras import layers

class Counter:
    _start = 0

    def __init__(self):
        self._count = self._start

    def add(self):
        self._count += 1
        return self._helper()

    def _helper(self):
        return self._count

class Loud(Counter, ValueError):
    def add(self):
        return self._count

keras.layers.Dense(2).units
getattr(layers, "Dense", None)
hasattr(keras, "ops")
importlib.import_module("numpy")
importlib.import_module(f"keras_convert.{name}")
sys.modules[name] = module
"""
    assert internal_reads(clean) == []


def test_the_audit_sees_each_kind_of_read_in_the_door():
    door = "\n".join(internal_reads(_source(DOOR)))
    assert "call._node (a private attribute)" in door
    assert "from keras.src.backend import get_keras_mask" in door
    assert "_read(tensor, '_keras_history') (a private attribute)" in door
    assert "_read(node, 'is_input') (a Node attribute)" in door
    assert "getattr(operation, '_call_context_args', {'training'}) (a private attribute)" in door
    assert "getattr(obj, attribute) (a name computed at run time)" in door


def test_no_keras_node_leaves_the_door():
    layers = residual()
    with_an_op = keras.Model(layers.input, keras.ops.relu(layers.output))  # an op call too
    graph = read_graph(with_an_op)
    assert len(graph.nodes) == 5  # a, b, add, head and the op (the input is not a call)
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
    assert f"Keras {_versions.FLOOR} to {_versions.LATEST} do" in message
