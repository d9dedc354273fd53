"""The nbval guard's start-up file: training drifts, exact claims between twins do not."""

import builtins
import re

import keras
import numpy as np
import pytest
from keras.src.backend.tensorflow.optimizer import TFOptimizer
from keras.src.optimizers.base_optimizer import BaseOptimizer

from tests import ROOT

NUDGE = ROOT / "tools" / "nbval_drift.py"


class _Kernel:
    """What the start-up file needs of `get_ipython()`: an event registry."""

    def __init__(self):
        self.callbacks = []
        self.events = self

    def register(self, event, callback):
        self.callbacks.append((event, callback))


def _trained_weights(x, y):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu")])
    model.add(keras.layers.Dense(1))
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert float(optimizer.learning_rate) == np.float32(0.01)
    return model.get_weights()


@pytest.fixture
def kernel(monkeypatch):
    """A fake kernel that ran the start-up file; Keras's classes are restored afterwards."""
    for cls in (BaseOptimizer, TFOptimizer):
        monkeypatch.setattr(cls, "_backend_update_step", cls.__dict__["_backend_update_step"])
    fake = _Kernel()
    monkeypatch.setattr(builtins, "get_ipython", lambda: fake, raising=False)
    namespace = {}
    exec(compile(NUDGE.read_text(encoding="utf-8"), str(NUDGE), "exec"), namespace)
    assert [name for name in namespace if not name.startswith("__")] == []
    return fake


def test_the_nudge_moves_training_and_keeps_twins_equal(kernel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    plain = _trained_weights(x, y)
    assert [event for event, _ in kernel.callbacks] == ["pre_run_cell"]
    for _, callback in kernel.callbacks * 2:  # before each cell; patching twice is harmless
        callback(None)
    nudged, twin = _trained_weights(x, y), _trained_weights(x, y)
    assert any(not np.array_equal(a, b) for a, b in zip(plain, nudged, strict=True))
    for before, after, again in zip(plain, nudged, twin, strict=True):
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-5)  # last bits, not a new model
        np.testing.assert_array_equal(after, again)


def test_make_nbval_starts_its_kernels_with_the_nudge():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    numerics = re.search(r"^NBVAL_NUMERICS \?= ((?:.*\\\n)*.*)$", makefile, re.MULTILINE).group(1)
    assert "PYTHONSTARTUP=$(CURDIR)/tools/nbval_drift.py" in numerics
    assert "TF_ENABLE_ONEDNN_OPTS=1" in numerics
