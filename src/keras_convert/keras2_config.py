"""Keras 2 model configurations, rewritten into the form Keras 3's reader of Keras 2 takes.

Keras 3 reads a Keras 2 configuration (as stored in a legacy `.h5` file) with
`legacy_h5_format`'s reader; `legacy_form` rewrites what a Keras 2 file stores so that the
reader builds the model Keras 2 built, or fails. It never imports anything a file names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["legacy_form"]


def legacy_form(node: Any) -> Any:
    """A Keras 2 `.keras` configuration in the form Keras 3's reader of `.h5` files takes.

    Two differences. Class names: `.keras` gives `module`, `class_name` and, for a
    registered class, `registered_name` ("Package>Name"); `.h5` gives the registered name
    as `class_name` and no module (Keras 3 reads an entry with a `module` as its own
    format). Node numbers: see `_renumber_nested_calls`. Returns a copy.
    """
    if isinstance(node, list):
        return [legacy_form(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: legacy_form(value) for key, value in node.items()}
    if "class_name" in result and "config" in result:
        registered = result.pop("registered_name", None)
        result.pop("module", None)
        if registered:
            result["class_name"] = registered
        _renumber_nested_calls(result)
    return result


def _renumber_nested_calls(model: dict) -> None:
    """Makes a Functional configuration's references to nested models count as Keras 3 does.

    Keras 2 counts a nested model's own construction as its call number 0 when the model
    starts with an input layer (`_should_skip_first_node` in tf_keras's `functional.py`),
    so the outer graph calls it as number 1; Keras 3 records no such call and numbers the
    outer call 0 (its own reader of Keras 2 `.h5` files does not renumber, and fails on
    such a model with "Invalid Functional model configuration"). In place.
    """
    config = model["config"]
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return
    shifted = {entry["config"]["name"] for entry in config["layers"] if _has_own_call(entry)}
    if not shifted:
        return

    def renumber(value: Any) -> None:
        if not isinstance(value, list):
            return
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            if value[0] in shifted:  # [layer name, call number, output number, ...]
                value[1] -= 1
            return
        for item in value:
            renumber(item)

    for entry in config["layers"]:
        renumber(entry.get("inbound_nodes"))
    renumber(config.get("input_layers"))
    renumber(config.get("output_layers"))


def _has_own_call(entry: dict) -> bool:
    """Whether Keras 2 gave this layer entry (a nested model) a call of its own."""
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
