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
        errors.UntraceableModelError,
        errors.LayerNotFoundError,
        errors.MissingInputError,
        errors.AmbiguousLayerError,
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


def test_a_wrong_type_says_what_was_received_without_a_memory_address():
    message = str(errors.wrong_type("to_functional", "a keras.Model", object()))
    assert message == (
        "to_functional() expects a keras.Model; received a object: <builtins.object object>"
    )


def test_a_keras_2_model_gets_the_way_to_keras_3():
    tf_keras = pytest.importorskip("tf_keras")
    model = tf_keras.Sequential([tf_keras.layers.Dense(2, input_shape=(3,))])
    message = str(errors.wrong_type("to_functional", "a keras.Model", model))
    assert " at 0x" not in message
    assert "tf_keras (Keras 2) object: save the model as .h5" in message


def test_an_unbuilt_model_is_worded_one_way_with_the_remedy_of_whoever_raises():
    error = errors.UnbuiltModelError("lazy", "Pass input_shape=...")
    assert str(error) == (
        "Sequential model 'lazy' is not built, so its input shape is unknown. Pass input_shape=..."
    )
    assert (error.model_name, error.remedy) == ("lazy", "Pass input_shape=...")
    assert error.with_remedy("Build it.") == (
        "Sequential model 'lazy' is not built, so its input shape is unknown. Build it."
    )
    maybe_subclassed = errors.UnbuiltModelError("m", "Pass x=...", kind="model")
    assert str(maybe_subclassed).startswith("model 'm' is not built, so its input shape")


def test_a_shape_error_puts_the_callers_advice_between_the_shapes_and_keras_reason():
    keras_error = ValueError("expected axis -1 to have value 8")
    advised = errors.shape_error("head", (None, 3), (None, 8), keras_error, "replace it")
    assert str(advised) == (
        "layer 'head' was built for input shape (None, 8) but now receives (None, 3); "
        "replace it. Keras says: expected axis -1 to have value 8"
    )
    plain = errors.shape_error("head", (None, 3), (None, 8), keras_error)
    assert "(None, 3). Keras says:" in str(plain)
