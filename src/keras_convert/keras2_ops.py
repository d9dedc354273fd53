"""Keras 2's raw-TensorFlow-op layers, mapped onto `keras.ops` by an allow-list.

Keras 2 records `tf.concat(...)`, `tf.nn.relu(x)`, `x[:, 0]` or `x + 1` called on symbolic
tensors in a Functional model as layers of its own (`TFOpLambda`, `SlicingOpLambda`) that
name the TensorFlow function ("concat", "nn.relu", "__operators__.getitem") and store the
call's other arguments in the node that calls them. Keras 3 has no such layers. `OPS` maps
each allowed TensorFlow name onto the `keras.ops` code that computes the same, run by one
serializable layer, `TensorFlowOp`, so the loaded model runs on every backend and saves to
`.keras`. A name outside `OPS` is never looked up anywhere: it is an `UnmappedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

__all__ = ["OPS", "TensorFlowOp", "UnmappedError", "keras2_hard_sigmoid"]

# Marks a tensor argument in `TensorFlowOp`'s templates: {"__tensor__": index in inputs}.
TENSOR = "__tensor__"


class UnmappedError(ValueError):
    """A Keras 2 configuration asks for something Keras 3 cannot compute the same way.

    `legacy_form` raises it with the path-free parts of a `ModelFileError`.

    Attributes:
        cause: What is wrong, naming the layer and the feature.
        remedy: What would help, or None.
    """

    def __init__(self, cause: str, remedy: str | None = None) -> None:
        super().__init__(cause + (f"; {remedy}" if remedy else ""))
        self.cause = cause
        self.remedy = remedy


@dataclass(frozen=True)
class Op:
    """One allowed TensorFlow function: `compute(first, **keywords)` with `keras.ops`.

    `keywords` are the TensorFlow argument names it takes after the first (`name`, which
    only names a TensorFlow graph node, is always allowed and ignored); `defaults` are the
    values of TensorFlow arguments that `compute` does not implement, accepted only at
    exactly these values.
    """

    compute: Callable[..., Any]
    keywords: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()


def _unary(function: Callable[[Any], Any]) -> Op:
    return Op(lambda x: function(x))


def _binary(function: Callable[[Any, Any], Any]) -> Op:
    return Op(lambda x, y: function(x, y), ("y",))


def _reduction(function: Callable[..., Any]) -> Op:
    return Op(
        lambda x, axis=None, keepdims=False: function(x, axis=_axis(axis), keepdims=keepdims),
        ("axis", "keepdims"),
    )


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def _split(value, num_or_size_splits, axis=0, num=None):
    if isinstance(num_or_size_splits, int):
        return ops.split(value, num_or_size_splits, axis=axis)
    bounds, total = [], 0
    for size in num_or_size_splits[:-1]:
        total += size
        bounds.append(total)
    return ops.split(value, bounds, axis=axis)


def _matmul(a, b, transpose_a=False, transpose_b=False):
    a = ops.swapaxes(a, -1, -2) if transpose_a else a
    b = ops.swapaxes(b, -1, -2) if transpose_b else b
    return ops.matmul(a, b)


def _squeeze(x, axis=None):
    return ops.squeeze(x, axis=_axis(axis))


# TensorFlow name (as Keras 2 records it, without "tf.") -> the keras.ops that compute it.
OPS: dict[str, Op] = {
    # Arithmetic operators (`x + 1` is `__operators__.add`, `2 * x` is `math.multiply`).
    "__operators__.add": _binary(ops.add),
    "math.add": _binary(ops.add),
    "math.subtract": _binary(ops.subtract),
    "math.multiply": _binary(ops.multiply),
    "math.truediv": _binary(ops.true_divide),
    "math.divide": _binary(ops.divide),
    "math.floordiv": _binary(ops.floor_divide),
    "math.pow": _binary(ops.power),
    "math.maximum": _binary(ops.maximum),
    "math.minimum": _binary(ops.minimum),
    "math.squared_difference": _binary(lambda x, y: ops.square(ops.subtract(x, y))),
    "math.negative": _unary(ops.negative),
    # Comparisons and selection.
    "math.greater": _binary(ops.greater),
    "math.greater_equal": _binary(ops.greater_equal),
    "math.less": _binary(ops.less),
    "math.less_equal": _binary(ops.less_equal),
    "math.equal": _binary(ops.equal),
    "math.not_equal": _binary(ops.not_equal),
    "where": Op(lambda condition, x, y: ops.where(condition, x, y), ("x", "y")),
    # Element-wise mathematics.
    "math.abs": _unary(ops.absolute),
    "math.exp": _unary(ops.exp),
    "math.log": _unary(ops.log),
    "math.log1p": _unary(ops.log1p),
    "math.expm1": _unary(ops.expm1),
    "math.sqrt": _unary(ops.sqrt),
    "math.rsqrt": _unary(ops.rsqrt),
    "math.square": _unary(ops.square),
    "math.reciprocal": _unary(ops.reciprocal),
    "math.sign": _unary(ops.sign),
    "math.floor": _unary(ops.floor),
    "math.ceil": _unary(ops.ceil),
    "math.sin": _unary(ops.sin),
    "math.cos": _unary(ops.cos),
    "math.tanh": _unary(ops.tanh),
    "math.erf": _unary(ops.erf),
    # Activations (TensorFlow's canonical names: `tf.sigmoid` is "math.sigmoid").
    "math.sigmoid": _unary(ops.sigmoid),
    "math.softplus": _unary(ops.softplus),
    "math.softsign": _unary(ops.softsign),
    "nn.relu": _unary(ops.relu),
    "nn.relu6": _unary(ops.relu6),
    "nn.elu": _unary(ops.elu),
    "nn.selu": _unary(ops.selu),
    "nn.silu": Op(lambda x: ops.silu(x), defaults=(("beta", 1.0),)),
    "nn.gelu": Op(lambda x, approximate=False: ops.gelu(x, approximate), ("approximate",)),
    "nn.leaky_relu": Op(lambda x, alpha=0.2: ops.leaky_relu(x, alpha), ("alpha",)),
    "nn.softmax": Op(lambda x, axis=-1: ops.softmax(x, axis=axis), ("axis",)),
    "nn.log_softmax": Op(lambda x, axis=-1: ops.log_softmax(x, axis=axis), ("axis",)),
    # Shapes and structure.
    "concat": Op(lambda values, axis: ops.concatenate(values, axis=axis), ("axis",)),
    "stack": Op(lambda values, axis=0: ops.stack(values, axis=axis), ("axis",)),
    "reshape": Op(lambda x, shape: ops.reshape(x, tuple(shape)), ("shape",)),
    "transpose": Op(
        lambda x, perm=None: ops.transpose(x, perm), ("perm",), (("conjugate", False),)
    ),
    "compat.v1.transpose": Op(
        lambda x, perm=None: ops.transpose(x, perm), ("perm",), (("conjugate", False),)
    ),
    "expand_dims": Op(lambda x, axis: ops.expand_dims(x, axis), ("axis",)),
    "squeeze": Op(_squeeze, ("axis",)),
    "compat.v1.squeeze": Op(_squeeze, ("axis",), (("squeeze_dims", None),)),
    "tile": Op(lambda x, multiples: ops.tile(x, tuple(multiples)), ("multiples",)),
    "split": Op(_split, ("num_or_size_splits", "axis", "num")),
    "cast": Op(lambda x, dtype: ops.cast(x, dtype), ("dtype",)),
    "identity": _unary(lambda x: x),
    "linalg.matmul": Op(
        _matmul,
        ("b", "transpose_a", "transpose_b"),
        (("adjoint_a", False), ("adjoint_b", False), ("a_is_sparse", False)),
    ),
    # Reductions.
    "math.reduce_mean": _reduction(ops.mean),
    "math.reduce_sum": _reduction(ops.sum),
    "math.reduce_max": _reduction(ops.max),
    "math.reduce_min": _reduction(ops.min),
    "math.reduce_prod": _reduction(ops.prod),
    "math.reduce_variance": _reduction(ops.var),
    "math.reduce_std": _reduction(ops.std),
    "math.reduce_logsumexp": _reduction(ops.logsumexp),
    # Slicing with constant indices (`x[:, 1:3]`), Keras 2's `SlicingOpLambda`.
    "__operators__.getitem": Op(lambda x, slice_spec: x[_index(slice_spec)], ("slice_spec",)),
}


def check_call(layer: str, function: str, keywords: dict) -> None:
    """Raises `UnmappedError` unless `OPS` computes `function` with these keywords."""
    op = OPS.get(function)
    if op is None:
        raise UnmappedError(
            f"layer '{layer}' calls TensorFlow op '{function}', which keras_convert does not map",
            "rewrite it as a keras.layers layer or a registered custom layer",
        )
    defaults = dict(op.defaults)
    for key, value in keywords.items():
        if key == "name" or key in op.keywords:
            continue
        if key in defaults and value == defaults[key]:
            continue
        raise UnmappedError(
            f"layer '{layer}' calls TensorFlow op '{function}' with {key}={value!r}, which "
            "keras_convert does not map",
            "rewrite it as a keras.layers layer or a registered custom layer",
        )
    if function == "__operators__.getitem":
        _index(keywords.get("slice_spec"), layer)


def _index(spec: Any, layer: str = "?") -> Any:
    """A slice spec as Keras 2 stores it (`{"start", "stop", "step"}`, an int, None for a
    new axis, or a list of these) as a Python index; only constants, no negative steps
    (PyTorch's indexing has none)."""
    if isinstance(spec, list):
        return tuple(_index(item, layer) for item in spec)
    if spec is None or (isinstance(spec, int) and not isinstance(spec, bool)):
        return spec
    if isinstance(spec, dict) and set(spec) == {"start", "stop", "step"}:
        bounds = [spec["start"], spec["stop"], spec["step"]]
        constant = all(
            b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in bounds
        )
        if constant and (bounds[2] is None or bounds[2] > 0):
            return slice(*bounds)
    raise UnmappedError(
        f"layer '{layer}' slices a tensor with {spec!r}; keras_convert maps constant "
        "indices and slices with positive steps only",
        "rewrite it with keras.ops (for example keras.ops.take or keras.ops.flip)",
    )


@keras.saving.register_keras_serializable(package="keras_convert")
class TensorFlowOp(keras.layers.Layer):
    """A Keras 2 `TFOpLambda` (or `SlicingOpLambda`) call, computed with `keras.ops`.

    Args:
        function: The TensorFlow name Keras 2 recorded, a key of `OPS` ("concat").
        arguments: The call's first argument: `{"__tensor__": i}` for the layer's `i`-th
            input tensor, a constant, or a list of these.
        keywords: The call's other arguments by TensorFlow's names, tensors marked the
            same way.
        **kwargs: Layer arguments (`name`, `dtype`, `trainable`). Inputs are not cast to
            the layer's dtype, as Keras 2 did not cast them (`autocast=False`).

    Raises:
        UnmappedError: `function` is not in `OPS`, or takes no such keyword.
    """

    def __init__(self, function: str, arguments: Any, keywords: dict, **kwargs) -> None:
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        check_call(self.name, function, keywords)
        self.function = function
        self.first_argument = arguments
        self.keywords = dict(keywords)

    def call(self, inputs):
        tensors = inputs if isinstance(inputs, list | tuple) else [inputs]
        first = _fill(self.first_argument, tensors)
        keywords = {k: _fill(v, tensors) for k, v in self.keywords.items() if k != "name"}
        defaults = dict(OPS[self.function].defaults)
        for key in defaults:
            keywords.pop(key, None)
        return OPS[self.function].compute(first, **keywords)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("autocast", None)
        config.update(function=self.function, arguments=self.first_argument, keywords=self.keywords)
        return config


@keras.saving.register_keras_serializable(package="keras_convert")
def keras2_hard_sigmoid(x):
    """Keras 2's `hard_sigmoid`: `clip(0.2 * x + 0.5, 0, 1)`.

    Keras 3's function of the same name is `clip(x / 6 + 0.5, 0, 1)`, so a Keras 2 layer
    that names "hard_sigmoid" (ConvLSTM2D's default recurrent activation among them) would
    load under that name and compute something else.
    """
    return ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def _fill(template: Any, tensors: list) -> Any:
    """`template` with each `{"__tensor__": i}` replaced by `tensors[i]`."""
    if isinstance(template, dict) and set(template) == {TENSOR}:
        return tensors[template[TENSOR]]
    if isinstance(template, list):
        return [_fill(item, tensors) for item in template]
    return template
