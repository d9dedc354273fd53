"""Shared fixtures: seeded Keras, and the book built once per test run (helpers.py: functions)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import pytest

from tests.sitebuild import build_site


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The book built strictly (-W -n) into a scratch folder, once per run: its html folder."""
    return build_site(tmp_path_factory.mktemp("site"))
