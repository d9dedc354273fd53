"""keras_convert: convert Keras 3 models between the Sequential and Functional APIs.

Convert (`to_functional`, subclassed models included, `to_sequential`, `is_sequential`,
`flatten`), take a part of a model as a model of its own (`extract`), edit
(`insert_layer`, `remove_layer`, `replace_layer`), verify (`assert_equivalent`), load
(`load_model`, Keras 2 files included) and export (`export`: ONNX, LiteRT or SavedModel,
run in its own runtime and compared) models without changing what they compute: when a
conversion cannot be exact, a typed error (a `ConversionError`) names the layer and the
reason.

By default (`copy=False`) a converted or edited model SHARES its layers and weights with
the original: training one trains the other. Pass `copy=True` for independent layers with
bitwise-equal weights.

The command line, `keras-convert` (or `python -m keras_convert`), inspects and converts
model files. The names below are imported on first use, so that the command line can quiet
TensorFlow before Keras is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keras_convert.conversion import flatten, is_sequential, to_functional, to_sequential
    from keras_convert.errors import (
        AmbiguousLayerError,
        ConversionError,
        ExportError,
        IncompatibleShapeError,
        LayerNotFoundError,
        MissingInputError,
        ModelFileError,
        NotEquivalentError,
        NotSequentialError,
        UnbuiltModelError,
        UnsupportedKerasError,
        UnsupportedModelError,
        UntraceableModelError,
    )
    from keras_convert.exporting import ExportReport, export
    from keras_convert.extraction import extract
    from keras_convert.loading import load_model
    from keras_convert.surgery import insert_layer, remove_layer, replace_layer
    from keras_convert.verification import assert_equivalent

__all__ = [
    "AmbiguousLayerError",
    "ConversionError",
    "ExportError",
    "ExportReport",
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
    "assert_equivalent",
    "export",
    "extract",
    "flatten",
    "insert_layer",
    "is_sequential",
    "load_model",
    "remove_layer",
    "replace_layer",
    "to_functional",
    "to_sequential",
]
_MODULE_OF = {
    **dict.fromkeys(["flatten", "is_sequential", "to_functional", "to_sequential"], "conversion"),
    **dict.fromkeys([name for name in __all__ if name.endswith("Error")], "errors"),
    **dict.fromkeys(["insert_layer", "remove_layer", "replace_layer"], "surgery"),
    **dict.fromkeys(["ExportReport", "export"], "exporting"),
    "assert_equivalent": "verification",
    "extract": "extraction",
    "load_model": "loading",
}
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_convert' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"keras_convert.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
