"""The error hierarchy: typed, exported, and catchable as the built-in types users expect."""

import pytest

import keras_convert
from keras_convert import errors


@pytest.mark.parametrize(
    "error",
    [
        errors.NotSequentialError,
        errors.UnbuiltModelError,
        errors.UnsupportedModelError,
        errors.LayerNotFoundError,
        errors.IncompatibleShapeError,
    ],
)
def test_conversion_errors_are_value_errors(error):
    assert issubclass(error, errors.ConversionError)
    assert issubclass(error, ValueError)


def test_not_equivalent_is_an_assertion_error_not_a_conversion_error():
    assert issubclass(errors.NotEquivalentError, AssertionError)
    assert not issubclass(errors.NotEquivalentError, errors.ConversionError)


def test_every_error_is_exported_from_the_package():
    for name in errors.__all__:
        assert getattr(keras_convert, name) is getattr(errors, name)
        assert name in keras_convert.__all__


def test_incompatible_shape_error_carries_the_shapes():
    error = errors.IncompatibleShapeError(
        "msg", layer_name="head", built_shape=(None, 4), received_shape=(None, 8)
    )
    assert (error.layer_name, error.built_shape, error.received_shape) == (
        "head",
        (None, 4),
        (None, 8),
    )
    assert str(error) == "msg"
