"""How `tf_keras` names what it saves, reproduced: the one place keras_convert copies it.

Keras 2 keeps a `.keras` file's weights under group names, and a model configuration's
references to nested models under call numbers, that it derives from the model instead of
storing them; reading such a file means deriving them again. Each function here names the
`tf_keras` function it reproduces, as read in `tf_keras` 2.21.0 (the version the tests
install and check these against: tests/test_tf_keras_names.py). keras_convert never imports
`tf_keras`; this module is audited for Keras internals like every other one.
"""

from __future__ import annotations

import re

__all__ = ["SUBLAYERS", "GroupNames", "counts_construction_as_call", "saved_layers", "snake_case"]

# The sub-layers under whose attribute names `_save_state` (tf_keras/src/saving/saving_lib.py)
# keeps a layer's weights: a wrapper's `layer`, a recurrent layer's `cell`, `Bidirectional`'s
# two directions.
SUBLAYERS = ("layer", "cell", "forward_layer", "backward_layer")


def snake_case(class_name: str) -> str:
    """`to_snake_case` (tf_keras/src/utils/generic_utils.py): the group name of a class."""
    intermediate = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return insecure if insecure[0] != "_" else "private" + insecure


class GroupNames:
    """The group names `_save_container_state` (tf_keras/src/saving/saving_lib.py) gives the
    layers of one container, in order: the class name in snake case, numbered from the
    second of a name on (`dense`, `dense_1`, ...). Call it once per layer saved; a layer
    met a second time (a shared one) is skipped there and must not be named here."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def __call__(self, class_name: str) -> str:
        name = snake_case(class_name)
        if name in self.used:
            self.used[name] += 1
            return f"{name}_{self.used[name]}"
        self.used[name] = 0
        return name


def saved_layers(model: dict) -> list[dict]:
    """The layer entries of a model configuration in the order tf_keras saves their weights.

    That order is the model's `layers`, which for a Sequential model leaves out its input
    layer (`Sequential.layers`, tf_keras/src/engine/sequential.py).
    """
    entries = model["config"]["layers"]
    if model["class_name"] == "Sequential":
        return [entry for entry in entries if entry["class_name"] != "InputLayer"]
    return entries


def counts_construction_as_call(entry: dict) -> bool:
    """Whether tf_keras numbers a nested model's own construction as its call number 0.

    `_should_skip_first_node` (tf_keras/src/engine/functional.py): true for a Functional
    model (Sequential included) whose first layer is an input layer, as every Functional
    model's is and a Sequential model's is when built on `keras.Input`. Such a model was
    built by calling its layers on its inputs, and the outer graph's calls of it count
    from 1.
    """
    if entry.get("class_name") in ("Functional", "Model"):
        return True
    config = entry.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    return (
        entry.get("class_name") == "Sequential"
        and isinstance(layers, list)
        and bool(layers)
        and layers[0].get("class_name") == "InputLayer"
    )
