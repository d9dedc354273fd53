"""Typed errors raised by keras_convert.

Every conversion or editing problem raises a subclass of `ConversionError` (itself a
`ValueError`) whose message names the layer involved and the reason, so that a failure
reads like a diagnosis rather than a traceback from deep inside Keras.
`NotEquivalentError` is different: it is an `AssertionError`, raised by
`assert_equivalent`, so that test frameworks report it as a failed assertion.
An argument of the wrong kind (a path instead of a model, say) raises `TypeError` with a
message that says what was received (`wrong_type`).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "AmbiguousLayerError",
    "ConversionError",
    "ExportError",
    "IncompatibleShapeError",
    "LayerNotFoundError",
    "MissingInputError",
    "ModelFileError",
    "NotEquivalentError",
    "NotSequentialError",
    "UnbuiltModelError",
    "UnsupportedKerasError",
    "UnsupportedModelError",
    "UntraceableModelError",
]


class ConversionError(ValueError):
    """Base class: a model cannot be converted or edited as asked."""


class NotSequentialError(ConversionError):
    """The model's graph is not a chain, so no Sequential model computes it.

    The message names the first offending layer (or operation) in topological order
    and why it breaks the chain: a branch, a merge, a shared layer, extra call
    arguments, a raw `keras.ops` operation, or several inputs/outputs.

    Attributes:
        reason: The message without its advice (where the chain breaks, and why).
        layer_name: The offending layer or operation, or None (several inputs/outputs).
        groupable: Whether `to_sequential(..., group_branches=True)` converts the model
            (it has one input and one output); the message then says so.
    """

    def __init__(
        self, reason: str, *, layer_name: str | None = None, groupable: bool = False
    ) -> None:
        advice = ". to_sequential(..., group_branches=True) wraps such regions in Functional blocks"
        super().__init__(reason + (advice if groupable else ""))
        self.reason = reason
        self.layer_name = layer_name
        self.groupable = groupable


class UnbuiltModelError(ConversionError):
    """The model has no known input shape (an unbuilt Sequential or subclassed model).

    The message is `Sequential model 'NAME' is not built, so its input shape is unknown.
    REMEDY`, the remedy saying what the caller of the function that raised can do.

    Attributes:
        model_name: The unbuilt model's name.
        kind: How the message names it: "Sequential model", "subclassed model", or
            "model" where it may be either.
        remedy: What the caller can do about it.
    """

    def __init__(self, model_name: str, remedy: str, *, kind: str = "Sequential model") -> None:
        self.model_name = model_name
        self.kind = kind
        self.remedy = remedy
        super().__init__(self.with_remedy(remedy))

    def with_remedy(self, remedy: str) -> str:
        """The message with another remedy (the command line words its own)."""
        name = f"{self.kind} '{self.model_name}'"
        return f"{name} is not built, so its input shape is unknown. {remedy}"


class UnsupportedModelError(ConversionError):
    """The model (or a layer in it) has no readable graph or cannot be re-created.

    Typically a subclassed `keras.Model` given to a function that needs a graph (convert
    it with `to_functional` first), or a layer that cannot be copied.
    """


class UntraceableModelError(UnsupportedModelError):
    """Tracing a subclassed model's `call()` cannot give a Functional model computing the same.

    Raised by `to_functional` for a subclassed model; the message names the model and the
    cause.

    Attributes:
        model_name: The subclassed model's name.
        cause: "value" (Python control flow on a tensor's value), "training" (`call()`
            computes other calls, or passes a fixed `training`, depending on `training`),
            "state" (a layer with weights created inside `call()`), "varies" (two traces
            differ: Python state that changes between calls), "shape" (Keras recorded no
            single input shape: pass `input_shape`) or "failed" (`call()` fails on
            symbolic inputs for another reason, quoted in the message).
    """

    def __init__(self, message: str, *, model_name: str, cause: str) -> None:
        super().__init__(message)
        self.model_name = model_name
        self.cause = cause


class UnsupportedKerasError(ConversionError):
    """The installed Keras lacks an internal attribute that keras_convert reads.

    keras_convert reads a model's graph through a few attributes that are not public
    Keras API (all in `keras_convert._keras_api`); a Keras release that renames one raises
    this, naming the attribute and the version, instead of misreading the graph.
    """


class LayerNotFoundError(ConversionError):
    """No layer (or operation) of the model has the requested name.

    The message lists the closest names in the model.
    """


class MissingInputError(ConversionError):
    """A requested output of `extract` depends on a model input that `inputs=` leaves out.

    Attributes:
        input_name: The input that is needed and not listed.
    """

    def __init__(self, message: str, *, input_name: str) -> None:
        super().__init__(message)
        self.input_name = input_name


class AmbiguousLayerError(ConversionError):
    """A name given to `extract` does not designate one tensor: the layer is called several
    times in the model (a shared layer) or returns several tensors."""


class IncompatibleShapeError(ConversionError):
    """A layer cannot accept the tensor that an edit now feeds it.

    Raised instead of Keras's own error (which is chained as `__cause__`) when, after
    inserting, removing or replacing a layer, a layer already built for one input
    shape receives another.

    Attributes:
        layer_name: Name of the layer that cannot accept its new input.
        built_shape: Input shape the layer was built for (None if unknown).
        received_shape: Input shape it receives after the edit.
    """

    def __init__(
        self,
        message: str,
        *,
        layer_name: str,
        built_shape: object = None,
        received_shape: object = None,
    ) -> None:
        super().__init__(message)
        self.layer_name = layer_name
        self.built_shape = built_shape
        self.received_shape = received_shape


class NotEquivalentError(AssertionError):
    """Two models do not compute the same function (raised by `assert_equivalent`).

    Attributes:
        max_abs_diff: Largest absolute difference found (None for structural mismatches).
        output_index: Index of the (first) differing output (None for structural mismatches).
    """

    def __init__(
        self,
        message: str,
        *,
        max_abs_diff: float | None = None,
        output_index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.max_abs_diff = max_abs_diff
        self.output_index = output_index


class ModelFileError(ValueError):
    """A model file cannot be loaded (raised by `load_model`).

    The message is one line: `cannot load 'PATH': CAUSE; REMEDY`. The attributes let a
    caller (the command line, say) word its own advice.

    Attributes:
        path: The file.
        cause: What is wrong, in a few words ("it is not a zip file, so not a .keras file",
            "class 'Scale' is not registered").
        remedy: What the Python caller can do about it, or None.
        class_name: The class the file names that nothing resolves, or None.
        needs: What would let the file load: "custom_objects" (the class `class_name`),
            "unsafe" (`safe_mode=False`, for Python code in the file), "max_layers" (a
            higher `max_layers`, for a file that declares more layers), or None.
    """

    def __init__(
        self,
        path: object,
        cause: str,
        *,
        remedy: str | None = None,
        class_name: str | None = None,
        needs: str | None = None,
    ) -> None:
        message = f"cannot load '{path}': {cause}" + (f"; {remedy}" if remedy else "")
        super().__init__(message)
        self.path = path
        self.cause = cause
        self.remedy = remedy
        self.class_name = class_name
        self.needs = needs


class ExportError(ValueError):
    """A model cannot be exported, or its artefact cannot be run to check it (`export`).

    The message names what is missing or unsupported: the package to install, the backend
    a format needs, the operation the format has no counterpart for, or the layer whose
    dtype policy the format refuses.

    Attributes:
        format: The format asked for ("onnx", "litert" or "tf_saved_model").
        package: The package to install (as `pip install` names it), or None.
        operation: The operation (TensorFlow op type) the format cannot express, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        format: str,
        package: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.format = format
        self.package = package
        self.operation = operation


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def no_layers(model_name: str) -> NotSequentialError:
    """A `NotSequentialError` for a model whose output is its input."""
    return NotSequentialError(
        f"model '{model_name}' has no layers between its input and its output; "
        "a Sequential model needs at least one layer"
    )


def wrong_type(function: str, expected: str, received: object) -> TypeError:
    """A `TypeError` saying what `function` expected and what it received instead."""
    kind = type(received)
    text = repr(received)
    if " at 0x" in text:  # a default repr says nothing but the class and an address
        text = f"<{kind.__module__}.{kind.__qualname__} object>"
    shown = text if len(text) <= 60 else text[:57] + "..."
    message = f"{function}() expects {expected}; received a {kind.__name__}: {shown}"
    if kind.__module__.split(".")[0] == "tf_keras":
        message += (
            ". That is a tf_keras (Keras 2) object: save the model as .h5 and load it with "
            "keras.saving.load_model to get a Keras 3 model"
        )
    return TypeError(message)


def keras_reason(error: Exception) -> str:
    """The informative line of a Keras error message (without its call-site preamble)."""
    lines = [_ANSI_ESCAPE.sub("", line).strip() for line in str(error).splitlines()]
    for line in lines:
        if line and not line.startswith("Exception encountered when calling"):
            return line
    return type(error).__name__


def shape_error(
    name: str, received: Any, built_shape: Any, error: Exception, advice: str | None = None
) -> IncompatibleShapeError:
    """An `IncompatibleShapeError` for layer `name`; raise it `from` Keras's `error`.

    `advice` (what to do about a layer built for another shape) follows the shapes.
    """
    reason = keras_reason(error)
    if built_shape is not None and built_shape != received:
        message = (
            f"layer '{name}' was built for input shape {built_shape} but now receives "
            f"{received}{f'; {advice}' if advice else ''}. Keras says: {reason}"
        )
    else:
        message = f"layer '{name}' cannot take input shape {received}. Keras says: {reason}"
    return IncompatibleShapeError(
        message, layer_name=name, built_shape=built_shape, received_shape=received
    )
