"""keras_convert: convert Keras 3 models between the Sequential and Functional APIs.

Convert (`to_functional`, `to_sequential`, `is_sequential`, `flatten`), edit
(`insert_layer`, `remove_layer`, `replace_layer`) and verify (`assert_equivalent`) models
without changing what they compute: when a conversion cannot be exact, a typed error
(a `ConversionError`) names the layer and the reason.

By default (`copy=False`) a converted or edited model SHARES its layers and weights with
the original: training one trains the other. Pass `copy=True` for independent layers with
bitwise-equal weights.
"""

from keras_convert.conversion import flatten, is_sequential, to_functional, to_sequential
from keras_convert.errors import (
    ConversionError,
    IncompatibleShapeError,
    LayerNotFoundError,
    NotEquivalentError,
    NotSequentialError,
    UnbuiltModelError,
    UnsupportedModelError,
)
from keras_convert.surgery import insert_layer, remove_layer, replace_layer
from keras_convert.verification import assert_equivalent

__all__ = [
    "ConversionError",
    "IncompatibleShapeError",
    "LayerNotFoundError",
    "NotEquivalentError",
    "NotSequentialError",
    "UnbuiltModelError",
    "UnsupportedModelError",
    "assert_equivalent",
    "flatten",
    "insert_layer",
    "is_sequential",
    "remove_layer",
    "replace_layer",
    "to_functional",
    "to_sequential",
]
