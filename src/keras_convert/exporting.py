"""Exporting: write a model as an ONNX, LiteRT or SavedModel artefact, run it, compare.

(The module is not named `export`: a submodule of that name would shadow the function
`keras_convert.export` once imported as `keras_convert.export`.)

An exported file is only as good as the runtime that reads it. `export` writes the artefact
with Keras's own `model.export`, loads it back in the runtime it is meant for (onnxruntime,
the LiteRT interpreter, TensorFlow's SavedModel loader), feeds it generated inputs by name,
and compares what it returns with what the Keras model returns on the same inputs.

Three traps it takes care of:
- Keras refuses to export a model to ONNX that has "never called" on data, which is every
  model freshly built, converted or loaded from a file. `export` passes Keras the input
  signature that Keras would read from the model after a call, so nothing is called first.
- A LiteRT file orders its inputs its own way (`serving_default_b:0` before
  `serving_default_a:0`): feeding them by position gives a shape error or, with equal
  shapes, a wrong answer. Every runtime here is fed by input name.
- ONNX export needs the float32 dtype policy; another policy is a typed error up front.

Each backend has its own routes (`_ROUTES`, read from Keras 3.15.1's keras/src/export/):
ONNX from TensorFlow (tf2onnx), JAX (jax2onnx) and PyTorch (torch.onnx); LiteRT from TensorFlow;
SavedModel from TensorFlow and JAX (jax2tf, which needs TensorFlow installed). Any other
pair is a typed error before anything is written, which says why (`_NO_ROUTE`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_convert._process import c_stderr_closed
from keras_convert._rebuild import structure_of
from keras_convert.errors import (
    ExportError,
    NotEquivalentError,
    UnsupportedModelError,
    keras_reason,
    wrong_type,
)
from keras_convert.graph import is_graph_model, known_inputs
from keras_convert.verification import sample_inputs

if TYPE_CHECKING:
    import onnx

__all__ = ["ExportReport", "export"]

FORMATS = ("onnx", "litert", "tf_saved_model")
# Default tolerance: |artefact - keras| <= ATOL + RTOL * |keras|, elementwise. The artefact
# runs other kernels than Keras (onnxruntime's, XNNPACK's), which sum in another order; on
# the keras.applications models (random weights) the largest difference seen is 2e-6.
ATOL = 1e-5
RTOL = 1e-4


@dataclass(frozen=True)
class ExportReport:
    """What `export` wrote and measured.

    Attributes:
        format: "onnx", "litert" or "tf_saved_model".
        path: The artefact (a file; a folder for a SavedModel).
        max_abs_diff: The largest absolute difference between the artefact's outputs and
            the Keras model's, over every output (None if `verify=False`).
        runtime: The runtime that ran the artefact ("onnxruntime", "ai-edge-litert",
            "tensorflow"), or None if `verify=False`.
        runtime_version: Its version, or None.
    """

    format: str
    path: Path
    max_abs_diff: float | None
    runtime: str | None
    runtime_version: str | None


@dataclass(frozen=True)
class _Route:
    """How Keras writes one format on one backend: what it needs, as (module, pip package)."""

    exporter: tuple[tuple[str, str], ...]
    runtime: tuple[str, str]


_SUFFIX = {"onnx": None, "litert": ".tflite", "tf_saved_model": None}
_ONNXRUNTIME = ("onnxruntime", "onnxruntime")
_LITERT = ("ai_edge_litert", "ai-edge-litert")
_TENSORFLOW = ("tensorflow", "tensorflow")
# What Keras 3.15.1's exporters (keras/src/export/) write on each backend, and the packages
# each route imports. PyTorch's ONNX route is torch.onnx's TorchScript exporter, which Keras
# picks for a free batch dimension and which needs only `onnx` besides torch.
_ROUTES = {
    ("tensorflow", "onnx"): _Route((("tf2onnx", "tf2onnx"), ("onnx", "onnx")), _ONNXRUNTIME),
    ("jax", "onnx"): _Route((("jax2onnx", "jax2onnx"), ("onnx", "onnx")), _ONNXRUNTIME),
    ("torch", "onnx"): _Route((("onnx", "onnx"),), _ONNXRUNTIME),
    ("tensorflow", "litert"): _Route((), _LITERT),
    ("tensorflow", "tf_saved_model"): _Route((), _TENSORFLOW),
    ("jax", "tf_saved_model"): _Route((_TENSORFLOW,), _TENSORFLOW),
}
# Why the other pairs of the three backends are refused.
_NO_ROUTE = {
    ("jax", "litert"): (
        "Keras 3.15 cannot: its LiteRT exporter runs on TensorFlow and PyTorch only, "
        "keras/src/export/litert.py"
    ),
    ("torch", "litert"): (
        "Keras 3.15 writes it through litert-torch with the batch size fixed at 1 and the "
        "inputs renamed args_0, args_1, ..., a route keras_convert does not check"
    ),
    ("torch", "tf_saved_model"): (
        "Keras 3.15 goes through torch_xla's StableHLO and TensorFlow there, "
        "keras/src/backend/torch/export.py, a route keras_convert does not check"
    ),
}


def export(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    format: str,
    verify: bool = True,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> ExportReport:
    """Exports `model` with Keras's `model.export`, then runs the artefact and compares.

    The model need not have been called: a model just built, converted or loaded exports
    as it is. keras_convert calls nothing and changes no weight; Keras's export traces the
    model in inference mode, as it does for every model and format. The artefact takes the
    model's inputs by their names (`model.inputs[i].name`) with a free batch size.

    With `verify=True` the artefact is loaded in its own runtime (onnxruntime's
    `InferenceSession`; ai-edge-litert's `Interpreter` through its signature runner;
    `tf.saved_model.load` and its `serving_default` signature), fed by input name with the
    inputs `assert_equivalent` generates (a batch of 2, other free dimensions of size 8,
    standard-normal floats, integers from 0 up to 10 or the smallest `Embedding.input_dim`,
    seed 0), and each output, matched by name, must satisfy
    `|artefact - keras| <= atol + rtol * |keras|` against the Keras model called with
    `training=False`. An ONNX file names outputs after its exporter's operations
    (tf2onnx keeps a returned dict's keys) and lists them in the model's flat output
    order; those are matched in that order and by shape.

    Each backend exports with Keras's own route and packages: ONNX on TensorFlow
    (`tf2onnx`, `onnx`), JAX (`jax2onnx`, `onnx`) and PyTorch (`onnx`); LiteRT on
    TensorFlow; SavedModel on TensorFlow and JAX (`tensorflow`). Verifying needs the
    runtime: `onnxruntime`, `ai-edge-litert` or `tensorflow`. The other pairs raise
    `ExportError`: Keras 3.15 cannot write LiteRT on JAX, and its LiteRT and SavedModel
    routes on PyTorch (litert-torch; torch_xla) are not checked here.

    Args:
        model: A built Sequential or Functional model. (A subclassed model has no
            `inputs` to read a signature from: call `model.export` with an
            `input_signature` yourself.)
        path: Where to write: a file for "onnx" and "litert" (which must end in
            `.tflite`), a folder for "tf_saved_model". Like `model.export`, it overwrites.
            If a check fails after writing, the artefact is left there to inspect.
        format: "onnx", "litert" or "tf_saved_model".
        verify: Run the artefact in its runtime and compare (needs the runtime package).
        atol: Absolute tolerance of the comparison.
        rtol: Relative tolerance of the comparison.

    Returns:
        An `ExportReport`: the format, the path, the largest difference measured and the
        runtime (name and version) that measured it.

    Raises:
        ExportError: the format is unknown or this backend cannot export it; a package
            the format needs on this backend is not installed (`package` names it;
            nothing is written); a layer's dtype policy is not float32 (ONNX); the
            format cannot express an operation of the model (`operation` names it); or
            the runtime cannot load or run the artefact. ONNX: on JAX, onnxruntime cannot
            run the MaxPool that MaxPooling2D and MaxPooling3D become; on PyTorch,
            torch.onnx cannot trace pooling with padding="same" and a stride above 1
            (`operation` "MaxPool" or "AveragePool", the message names the layers). The
            installed Keras's Model.export takes no input signature (Keras 3.6).
        NotEquivalentError: (an `AssertionError`) the artefact takes other inputs than
            the model, returns other outputs, or an output differs beyond the tolerance.
        UnbuiltModelError: the model has no known input shape.
        UnsupportedModelError: the model is a subclassed model.
        TypeError: `model` is not a `keras.Model`.

    Example:

    ```python
    import tempfile, pathlib
    model = keras.Sequential(
        [keras.Input(shape=(4,), name="features"), keras.layers.Dense(2)], name="mlp"
    )
    path = pathlib.Path(tempfile.mkdtemp()) / "mlp.onnx"
    report = export(model, path, format="onnx")  # any backend
    assert report.max_abs_diff <= 1e-5
    ```
    """
    if not isinstance(model, keras.Model):
        raise wrong_type("export", "a keras.Model", model)
    route = _route(format)
    path = Path(path)
    suffix = _SUFFIX[format]
    if suffix is not None and path.suffix != suffix:
        raise ExportError(
            f"a {format} file's name must end in '{suffix}' (Keras requires it), not '{path.name}'",
            format=format,
        )
    for module, package in route.exporter + ((route.runtime,) if verify else ()):
        _require(module, package, format)
    if "input_signature" not in inspect.signature(keras.Model.export).parameters:
        # Keras 3.6's Model.export takes no signature, which names and frees the inputs.
        raise ExportError(
            f"keras_convert.export passes Model.export an input signature, which Keras "
            f"{keras.__version__} does not take: upgrade Keras (pip install --upgrade keras)",
            format=format,
        )
    if format == "onnx":
        _check_float32(model)
    inputs = _inputs(model)
    signature = [keras.tree.map_structure(_input_spec, structure_of(model, "input"))]
    with _tf2onnx_log() as unsupported, warnings.catch_warnings():
        # Keras's patch of tf2onnx for NumPy 2 reads `np.object`, which warns.
        warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
        # PyTorch: Keras 3.15 calls torch.onnx's TorchScript exporter for a free batch
        # dimension, which torch 2.9+ deprecates, and its trace of Keras's variables warns
        # (Keras's own filters for these end before the export). Until Keras moves to
        # torch.export with dynamic shapes, they say nothing the user can act on.
        for message in ("You are using the legacy TorchScript", "The feature will be removed"):
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        for message in ("Converting a tensor to a Python", "torch.as_tensor results are"):
            warnings.filterwarnings("ignore", message=message)
        plugins = (
            _jax2onnx_plugins_for_jax_alone()
            if route is _ROUTES["jax", "onnx"]
            else contextlib.nullcontext()
        )
        try:
            with plugins:
                model.export(str(path), format=format, input_signature=signature, verbose=False)
        except Exception as error:
            raise _keras_export_error(model, format, error) from error
    if unsupported:
        operations = ", ".join(sorted(unsupported))
        raise ExportError(
            f"ONNX (tf2onnx) has no counterpart for the TensorFlow operation"
            f"{'s' if len(unsupported) > 1 else ''} {operations} that model "
            f"'{model.name}' uses; export it to 'litert' or 'tf_saved_model' instead",
            format=format,
            operation=sorted(unsupported)[0],
        )
    if format == "onnx":
        graph = _onnx_graph(path)
        _check_onnx_inputs(model, path, graph, [tensor.name for tensor in inputs])
    if not verify:
        return ExportReport(format, path, None, None, None)
    if format == "onnx":
        _check_onnx_max_pools(model, graph)
    flat = sample_inputs(model)
    feeds = {tensor.name: value for tensor, value in zip(inputs, flat, strict=True)}
    expected = _keras_outputs(model, flat)
    module, package = route.runtime
    actual = _RUNNERS[format](path, feeds)
    if format == "onnx" and sorted(actual) != sorted(expected) and len(actual) == len(expected):
        # ONNX names outputs after the exporter's last operations (tf2onnx: `Identity:0`,
        # jax2onnx: `add_out_4`, torch.onnx: `65`), dict keys aside (tf2onnx); each
        # exporter lists them in the order of the model's flat outputs.
        actual = dict(zip(expected, actual.values(), strict=True))
    largest = _compare(model, format, path, expected, actual, atol, rtol, package)
    version = getattr(importlib.import_module(module), "__version__", None)
    return ExportReport(format, path, largest, package, version)


# Keras 3.15 pools with padding="same" on PyTorch by computing the padding from the input's
# length when a stride is above 1 (keras/src/backend/torch/nn.py, _compute_padding_length);
# torch.onnx's TorchScript trace holds that length as a tensor, and refuses the padding built
# from it as "not constant". Can go when Keras exports from PyTorch through torch.export.
_MAX_POOLING = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)
_POOLING = (
    *_MAX_POOLING,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
)


def _keras_export_error(model: keras.Model, format: str, error: Exception) -> ExportError:
    """What Keras's `model.export` raised, with the layers to blame where they are known."""
    start = f"Keras cannot export model '{model.name}' to {format}"
    if keras.backend.backend() == "torch" and "because it is not constant" in str(error):
        same_strided = [
            layer
            for layer in _layers(model)
            if isinstance(layer, _POOLING)
            and layer.padding == "same"
            and any(stride > 1 for stride in layer.strides)
        ]
        if same_strided:
            names = ", ".join(f"'{layer.name}'" for layer in same_strided)
            return ExportError(
                f"{start}: torch.onnx cannot trace the padding that Keras on PyTorch computes "
                f"for pooling with padding='same' and a stride above 1 (layer"
                f"{'s' if len(same_strided) > 1 else ''} {names}); export it to ONNX on "
                "TensorFlow instead",
                format=format,
                operation="MaxPool" if isinstance(same_strided[0], _MAX_POOLING) else "AveragePool",
            )
    # Keras names the layer class whose call failed in a preamble that keras_reason drops
    # (once, for the innermost layer).
    called = re.search(r"Exception encountered when calling (\w+)\.call\(\)", str(error))
    reason = keras_reason(error)
    if called:
        reason = f"{reason.rstrip('.')} (in {called.group(1)}.call)"
    return ExportError(f"{start}: {type(error).__name__}: {reason}", format=format)


def _route(format: str) -> _Route:
    """How Keras writes `format` on this backend, or an `ExportError` saying it cannot."""
    if format not in _SUFFIX:
        raise ExportError(
            f"unknown format {format!r}; choose one of {', '.join(map(repr, FORMATS))}",
            format=str(format),
        )
    backend = keras.backend.backend()
    if (backend, format) in _ROUTES:
        return _ROUTES[backend, format]
    able = [name for name, able_format in _ROUTES if able_format == format]
    reason = _NO_ROUTE.get((backend, format), "not a backend it checks")
    raise ExportError(
        f"keras_convert cannot export {format} on the {backend} backend ({reason}); it "
        f"exports {format} on {' and '.join(able)}: set KERAS_BACKEND to "
        + ("one of them" if len(able) > 1 else able[0]),
        format=format,
    )


@contextlib.contextmanager
def _jax2onnx_plugins_for_jax_alone() -> Iterator[None]:
    """While an export runs, jax2onnx has only its plugins for JAX's own functions.

    jax2onnx 0.17 imports all of its plugin modules before its first conversion in a
    process, those for Flax, Equinox and dm_pix and its examples included: 5.9 s and 74 XLA
    compilations on a 2-core machine, against 1.0 s and 19 for its `jax` tree. A Keras
    model on JAX is written in jax.numpy, jax.lax and jax.nn, which that tree covers.
    Afterwards jax2onnx imports the rest as before, for a Flax model exported next. Can go
    when jax2onnx imports the plugins a conversion needs, or faster.
    """
    from jax2onnx.plugins import plugin_system

    if plugin_system._already_imported_plugins:
        yield
        return
    tree = Path(plugin_system.__file__).parent / "jax"
    plugin_system._import_tree(tree, "jax2onnx.plugins.jax")
    plugin_system._already_imported_plugins = True
    try:
        yield
    finally:
        plugin_system._already_imported_plugins = False


def _require(module: str, package: str, format: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ExportError(
            f"exporting to {format} on the {keras.backend.backend()} backend needs the "
            f"package '{package}' (module {module}), which is not installed: "
            f"pip install {package}",
            format=format,
            package=package,
        )


def _check_float32(model: keras.Model) -> None:
    """ONNX export needs every layer to compute in float32 (Keras's `export_onnx` says so)."""
    for layer in _layers(model):
        policy = layer.dtype_policy.name
        if policy != "float32":
            which = "model" if layer is model else "layer"
            raise ExportError(
                f"{which} '{layer.name}' has dtype policy '{policy}'; ONNX export needs the "
                "float32 policy: rebuild the model under "
                "keras.config.set_dtype_policy('float32') and copy its weights",
                format="onnx",
            )


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """`model` and its layers, those of nested models included."""
    found: list[keras.layers.Layer] = [model]
    for layer in getattr(model, "layers", []):
        found.extend(_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return found


def _inputs(model: keras.Model) -> list[keras.KerasTensor]:
    if not is_graph_model(model):
        raise UnsupportedModelError(
            f"model '{model.name}' is a subclassed model ({type(model).__name__}): its inputs "
            "are not recorded, so export cannot read a signature; call "
            "model.export(path, format=..., input_signature=[...]) yourself"
        )
    return known_inputs(
        model, "Build it before exporting it, e.g. start it with keras.Input(shape=...)"
    )


def _input_spec(tensor: keras.KerasTensor) -> keras.InputSpec:
    """The spec Keras's exporters read from an input after a call: a free batch size."""
    return keras.InputSpec(shape=(None, *tensor.shape[1:]), dtype=tensor.dtype, name=tensor.name)


@contextlib.contextmanager
def _tf2onnx_log() -> Iterator[set[str]]:
    """Collects the TensorFlow operations tf2onnx reports as unsupported, and keeps its
    log lines (which it writes and goes on, leaving a file no runtime loads) off stderr."""
    unsupported: set[str] = set()
    if importlib.util.find_spec("tf2onnx") is None:
        yield unsupported
        return

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Tensorflow op [") and "is not supported" in message:
                unsupported.add(message.split(": ", 1)[1].split("]", 1)[0])

    logger = logging.getLogger("tf2onnx")
    handler, propagate = Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield unsupported
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _onnx_graph(path: Path) -> onnx.GraphProto:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph


def _check_onnx_inputs(
    model: keras.Model, path: Path, graph: onnx.GraphProto, names: list[str]
) -> None:
    """Raises if the ONNX graph takes inputs the model does not have.

    tf2onnx turns every tensor the traced function captures into a graph input, variables
    aside: a `Normalization` layer keeps its mean and variance as such tensors (Keras
    3.15), so the file asks its user for them on every call.
    """
    constants = {tensor.name for tensor in graph.initializer}
    extra = [node.name for node in graph.input if node.name not in constants | set(names)]
    if not extra:
        return
    holders = [
        f"'{layer.name}'"
        for layer in _layers(model)
        if isinstance(layer, keras.layers.Normalization)
    ]
    culprit = (
        f" (layer {', '.join(holders)}, a Normalization, keeps its mean and variance in "
        "such tensors)"
        if holders
        else ""
    )
    raise ExportError(
        f"the ONNX file takes {len(extra)} inputs that model '{model.name}' does not have "
        f"({', '.join(map(repr, extra))}): tensors its call captures, which tf2onnx leaves as "
        f"inputs{culprit}; export to 'litert' or 'tf_saved_model' instead",
        format="onnx",
        operation=extra[0],
    )


# onnxruntime's MaxPool pools over 1 to 3 dimensions (its CPU kernels, 1.32: "Unsupported
# pooling size" beyond). Keras pools on JAX with `lax.reduce_window` over every axis, with
# windows of 1 over batch and channels, and jax2onnx 0.17 writes that as one MaxPool over all
# of them (a 1x1 prefix on the input): valid ONNX, 4 pooled dimensions for MaxPooling2D, 5 for
# MaxPooling3D (tf2onnx transposes to channels first and pools over the 2 or 3 spatial ones).
# The check can go when jax2onnx pools over the spatial axes alone or onnxruntime pools over 4.
_ONNXRUNTIME_POOL_DIMS = 3


def _check_onnx_max_pools(model: keras.Model, graph: onnx.GraphProto) -> None:
    """Raises, naming the layers, if a MaxPool pools over more dimensions than onnxruntime."""
    for node in graph.node:
        kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [])
        if node.op_type == "MaxPool" and len(kernel) > _ONNXRUNTIME_POOL_DIMS:
            break
    else:
        return
    pools = [
        f"'{layer.name}'"
        for layer in _layers(model)
        if isinstance(layer, keras.layers.MaxPooling2D | keras.layers.MaxPooling3D)
    ]
    which = (
        f", which layer{'s' if len(pools) > 1 else ''} {', '.join(pools)} became" if pools else ""
    )
    raise ExportError(
        f"the ONNX file of model '{model.name}' has a MaxPool over {len(kernel)} dimensions "
        f"(kernel_shape {kernel}: batch, space and channels){which}; onnxruntime pools over "
        f"1 to {_ONNXRUNTIME_POOL_DIMS} only. Keras's ONNX exporter on "
        f"{keras.backend.backend()} writes max pooling so: export to ONNX on TensorFlow instead",
        format="onnx",
        operation="MaxPool",
    )


def _keras_outputs(model: keras.Model, flat: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The model's outputs on `flat`, by the names the artefacts give them."""
    x = keras.tree.pack_sequence_as(structure_of(model, "input"), flat)
    outputs = model(x, training=False)
    values = [np.asarray(keras.ops.convert_to_numpy(y)) for y in keras.tree.flatten(outputs)]
    return dict(zip(_output_names(model, len(values)), values, strict=True))


def _output_names(model: keras.Model, count: int) -> list[str]:
    """TensorFlow's names for a model's outputs: its dict keys, or `output_0`, `output_1`..."""
    structure = structure_of(model, "output")
    if isinstance(structure, dict) and not any(map(keras.tree.is_nested, structure.values())):
        return keras.tree.flatten({key: key for key in structure})
    return [f"output_{index}" for index in range(count)]


def _check_input_names(format: str, path: Path, names: list[str], feeds: dict) -> None:
    if sorted(names) != sorted(feeds):
        raise NotEquivalentError(
            f"the {format} artefact '{path}' takes inputs named {sorted(names)}, but the "
            f"model's inputs are named {sorted(feeds)}"
        )


def _run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ExportError(
            f"onnxruntime cannot load '{path}': {keras_reason(error)}", format="onnx"
        ) from error
    names = [node.name for node in session.get_inputs()]
    _check_input_names("onnx", path, names, feeds)
    try:
        values = session.run(None, {name: feeds[name] for name in names})
    except Exception as error:
        raise ExportError(
            f"onnxruntime cannot run '{path}': {keras_reason(error)}", format="onnx"
        ) from error
    output_names = [node.name for node in session.get_outputs()]
    return dict(zip(output_names, values, strict=True))


def _run_litert(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    with c_stderr_closed():
        try:
            interpreter = Interpreter(model_path=str(path))
            runner = interpreter.get_signature_runner("serving_default")
        except Exception as error:
            raise ExportError(
                f"the LiteRT interpreter cannot load '{path}': {keras_reason(error)}",
                format="litert",
            ) from error
        _check_input_names("litert", path, list(runner.get_input_details()), feeds)
        try:
            outputs = runner(**feeds)
        except RuntimeError as error:
            raise _litert_error(path, error) from error
    return {name: np.asarray(value) for name, value in outputs.items()}


def _litert_error(path: Path, error: RuntimeError) -> ExportError:
    """What the interpreter could not run: TensorFlow ("Flex") operations, which Keras's
    converter lets in (`SELECT_TF_OPS`) and the LiteRT runtime alone does not have."""
    flex = sorted(set(re.findall(r"\((Flex\w+)\)", str(error))))
    if flex:
        return ExportError(
            f"the LiteRT file '{path}' needs TensorFlow operation{'s' if len(flex) > 1 else ''} "
            f"{', '.join(flex)}, which the LiteRT runtime does not have (they need the Flex "
            "delegate, linked into TensorFlow's own interpreter or an app's build)",
            format="litert",
            operation=flex[0],
        )
    return ExportError(
        f"the LiteRT interpreter cannot run '{path}': {keras_reason(error)}", format="litert"
    )


def _run_saved_model(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    _check_input_names("tf_saved_model", path, list(serve.structured_input_signature[1]), feeds)
    outputs = serve(**{name: tf.constant(value) for name, value in feeds.items()})
    return {name: value.numpy() for name, value in outputs.items()}


_RUNNERS: dict[str, Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]] = {
    "onnx": _run_onnx,
    "litert": _run_litert,
    "tf_saved_model": _run_saved_model,
}


def _compare(
    model: keras.Model,
    format: str,
    path: Path,
    expected: dict[str, np.ndarray],
    actual: dict[str, np.ndarray],
    atol: float,
    rtol: float,
    runtime: str,
) -> float:
    """The largest absolute difference over all outputs; raises beyond the tolerance."""
    if sorted(expected) != sorted(actual):
        raise NotEquivalentError(
            f"the {format} artefact '{path}' returns outputs named {sorted(actual)}, but "
            f"model '{model.name}' returns {sorted(expected)}"
        )
    largest = 0.0
    for index, (name, want) in enumerate(expected.items()):
        got = np.asarray(actual[name])
        if got.shape != want.shape:
            raise NotEquivalentError(
                f"the {format} artefact's output '{name}' has shape {got.shape}, the "
                f"model's {want.shape}",
                output_index=index,
            )
        got, want = got.astype(np.float64), want.astype(np.float64)
        difference = np.abs(got - want)
        difference[np.isnan(got) & np.isnan(want)] = 0.0
        difference[np.isnan(got) ^ np.isnan(want)] = np.inf
        worst = float(difference.max()) if difference.size else 0.0
        bad = difference > atol + rtol * np.abs(np.nan_to_num(want))
        if bad.any():
            raise NotEquivalentError(
                f"the {format} artefact '{path}', run in {runtime}, differs from model "
                f"'{model.name}' on output '{name}': largest absolute difference "
                f"{worst:.3g}, tolerance atol={atol:g} + rtol={rtol:g} * |keras| "
                f"({int(bad.sum())} of {bad.size} values outside it)",
                max_abs_diff=worst,
                output_index=index,
            )
        largest = max(largest, worst)
    return largest
