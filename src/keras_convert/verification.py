"""Verification: assert that two models compute the same function."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import keras
import numpy as np

from keras_convert._keras_api import source_operation
from keras_convert._rebuild import structure_of
from keras_convert.errors import (
    ConversionError,
    NotEquivalentError,
    keras_reason,
    wrong_type,
)
from keras_convert.graph import known_inputs

__all__ = ["assert_equivalent"]

# Sizes used for dimensions a model leaves open (None) when inputs are generated.
_BATCH_SIZE = 2
_FREE_DIM = 8
_MAX_INTEGER = 10
_SEED = 0


def assert_equivalent(
    a: keras.Model,
    b: keras.Model,
    x: Any = None,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-6,
) -> None:
    """Asserts that two models compute the same function in inference mode.

    Both models are called with `training=False` on the same inputs, and every output
    must satisfy `|a - b| <= atol + rtol * |b|` elementwise (NaNs must match). The
    default tolerances are tight on purpose: a conversion replays the same kernels on
    the same weights, so its outputs normally agree bit for bit; loosen them for
    mixed-precision models or when comparing against re-implemented models.

    Args:
        a: The reference model.
        b: The model to check.
        x: Inputs to call both models on, structured like `a`'s inputs. By default,
            seeded random inputs are generated from `a.inputs`: a batch of 2, other
            unknown dimensions of size 8, floats drawn from a standard normal, integers
            from 0 up to 10 (or up to the smallest `Embedding.input_dim` in `a`), and a
            list or dict when the model has several inputs.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Raises:
        NotEquivalentError: (an `AssertionError`) the models take or return different
            structures, shapes or dtypes, or an output differs beyond the tolerance;
            the message names the output, the largest absolute difference and the
            tolerance.
        UnbuiltModelError: `x` is None and `a` has no known input shape.
        ConversionError: `x` is None and an input's dtype cannot be generated (strings).
        TypeError: `a` or `b` is not a `keras.Model`.

    Example:

    ```python
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
    assert_equivalent(model, to_functional(model))
    ```
    """
    for model in (a, b):
        if not isinstance(model, keras.Model):
            raise wrong_type("assert_equivalent", "two keras.Model objects", model)
    if x is None:
        _check_same_signature(a, b)
        flat = sample_inputs(a)
        x_a, x_b = _structured(flat, a, a), _structured(flat, b, a)
    else:
        x_a = x_b = x
    outputs_a = _call(a, x_a, "first")
    outputs_b = _call(b, x_b, "second")
    if len(outputs_a) != len(outputs_b):
        raise NotEquivalentError(
            f"the first model ('{a.name}') returns {len(outputs_a)} outputs, the second "
            f"('{b.name}') returns {len(outputs_b)}"
        )
    for index, (value_a, value_b) in enumerate(zip(outputs_a, outputs_b, strict=True)):
        _compare(a, b, index, value_a, value_b, rtol, atol)


def sample_inputs(model: keras.Model) -> list[np.ndarray]:
    """Seeded random values for `model`'s flat inputs, in the order of `model.inputs`.

    What `assert_equivalent` and `export` call models on when not given inputs: a batch of
    2, other unknown dimensions of size 8, floats from a standard normal, integers from 0
    up to 10 (or the smallest `Embedding.input_dim`), seed 0.
    """
    inputs = known_inputs(
        model,
        "No inputs can be generated for it: pass x=..., or build it (e.g. start a "
        "Sequential with keras.Input(shape=...))",
        kind="model",  # assert_equivalent also takes subclassed models
    )
    rng = np.random.default_rng(_SEED)
    high = _integer_bound(model)
    return [_sample(tensor, rng, high) for tensor in inputs]


def _structured(flat: list[np.ndarray], model: keras.Model, fallback: keras.Model) -> Any:
    """`flat` packed like `model`'s inputs (a single array, a list or a dict)."""
    try:
        structure = structure_of(model, "input")
    except AttributeError:
        structure = structure_of(fallback, "input")
    return keras.tree.pack_sequence_as(structure, flat)


def _sample(tensor: keras.KerasTensor, rng: np.random.Generator, high: int) -> np.ndarray:
    shape = tuple(
        (_BATCH_SIZE if axis == 0 else _FREE_DIM) if dim is None else dim
        for axis, dim in enumerate(tensor.shape)
    )
    dtype = str(tensor.dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, high, size=shape).astype(dtype)
    if "float" in dtype:
        values = rng.standard_normal(shape)
        return values.astype(dtype if dtype in ("float16", "float32", "float64") else "float32")
    raise ConversionError(
        f"cannot generate values of dtype {dtype} for input '{tensor.name}'; pass x=..."
    )


def _integer_bound(model: keras.Model) -> int:
    """Exclusive upper bound for generated integers: valid indices for every Embedding."""
    bound = _MAX_INTEGER
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.Embedding):
            bound = min(bound, layer.input_dim)
    return max(bound, 1)


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        if isinstance(layer, keras.Model):
            layers.extend(_all_layers(layer))
    return layers


def _signature(model: keras.Model, kind: str) -> list[tuple[Any, str]] | None:
    """Shapes and dtypes of a model's inputs or outputs; None if it has no static ones."""
    try:
        tensors = model.inputs if kind == "input" else model.outputs
    except AttributeError:
        return None
    if tensors is None:
        return None
    return [(tuple(t.shape), str(t.dtype)) for t in tensors]


def _check_same_signature(a: keras.Model, b: keras.Model) -> None:
    for kind in ("input", "output"):
        signature_a, signature_b = _signature(a, kind), _signature(b, kind)
        if signature_a is not None and signature_b is not None and signature_a != signature_b:
            raise NotEquivalentError(
                f"the models have different {kind}s: the first ('{a.name}') has "
                f"{_describe(signature_a)}, the second ('{b.name}') has "
                f"{_describe(signature_b)}"
            )
    keys_a, keys_b = _input_keys(a), _input_keys(b)
    if keys_a is not None and keys_b is not None and keys_a != keys_b:
        raise NotEquivalentError(f"the models take differently named inputs: {keys_a} and {keys_b}")


def _input_keys(model: keras.Model) -> list[str] | None:
    """Sorted input names of a model whose inputs are a dict; None otherwise or if unknown."""
    try:
        structure = structure_of(model, "input")
    except AttributeError:
        return None
    return sorted(structure) if isinstance(structure, dict) else None


def _describe(signature: list[tuple[Any, str]]) -> str:
    return ", ".join(f"{shape} {dtype}" for shape, dtype in signature) or "none"


def _call(model: keras.Model, x: Any, which: str) -> list[np.ndarray]:
    try:
        outputs = _inference(model, x)
    except Exception as error:
        raise NotEquivalentError(
            f"the {which} model ('{model.name}') cannot be called on the inputs: "
            f"{type(error).__name__}: {keras_reason(error)}"
        ) from error
    return [np.asarray(keras.ops.convert_to_numpy(y)) for y in keras.tree.flatten(outputs)]


def _inference(model: keras.Model, x: Any) -> Any:
    """`model(x, training=False)`; on JAX, as one compiled function when it traces.

    Called op by op, JAX compiles every operation for every new shape (a ResNet50: about
    100 compilations, each holding a megabyte or more), which made checking a large model
    on JAX several times slower than on TensorFlow. One `jax.jit` of the model computes
    the same operations with one compilation. The updated non-trainable state (a seed
    generator's, say) is written back, as a direct call would leave it. A model that is not
    built yet, or whose `call` cannot be traced (Python control flow on values), is called
    directly.
    """
    if keras.backend.backend() != "jax" or not model.built:
        return model(x, training=False)
    import jax

    trainable = [variable.value for variable in model.trainable_variables]
    non_trainable = [variable.value for variable in model.non_trainable_variables]
    # stateless_call passes its keywords to call() as they are, unlike model(x).
    parameters = inspect.signature(model.call).parameters
    takes_training = "training" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
    inference = {"training": False} if takes_training else {}
    call = jax.jit(functools.partial(model.stateless_call, **inference))
    try:
        outputs, state = call(trainable, non_trainable, x)
    except jax.errors.ConcretizationTypeError:
        return model(x, training=False)
    for variable, value in zip(model.non_trainable_variables, state, strict=True):
        variable.assign(value)
    return outputs


def _output_name(model: keras.Model, index: int) -> str:
    try:
        return source_operation(model.outputs[index]).name
    except (AttributeError, IndexError):
        return f"#{index}"


def _compare(
    a: keras.Model,
    b: keras.Model,
    index: int,
    value_a: np.ndarray,
    value_b: np.ndarray,
    rtol: float,
    atol: float,
) -> None:
    where = f"output {index} ('{_output_name(a, index)}')"
    if value_a.shape != value_b.shape or value_a.dtype != value_b.dtype:
        raise NotEquivalentError(
            f"{where} is {value_a.shape} {value_a.dtype} in the first model ('{a.name}') "
            f"but {value_b.shape} {value_b.dtype} in the second ('{b.name}')",
            output_index=index,
        )
    if value_a.dtype == bool or not np.issubdtype(value_a.dtype, np.number):
        mismatch = value_a != value_b
        if mismatch.any():
            raise NotEquivalentError(
                f"{where} differs in {int(mismatch.sum())} of {mismatch.size} values",
                output_index=index,
            )
        return
    first, second = value_a.astype(np.float64), value_b.astype(np.float64)
    nan_a, nan_b = np.isnan(first), np.isnan(second)
    difference = np.abs(first - second)
    difference[nan_a & nan_b] = 0.0
    difference[nan_a ^ nan_b] = np.inf
    allowed = atol + rtol * np.abs(np.nan_to_num(second))
    bad = difference > allowed
    if bad.any():
        largest = float(np.nanmax(difference))
        raise NotEquivalentError(
            f"the models differ on {where}: largest absolute difference {largest:.6g}, "
            f"tolerance atol={atol:g} + rtol={rtol:g} * |b| ({int(bad.sum())} of "
            f"{bad.size} values outside it)",
            max_abs_diff=largest,
            output_index=index,
        )
