"""Shared fixtures: seeded Keras, and the book built once per test run (helpers.py: functions)."""

import gc
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_unconfigure(config):
    """Lets each pytest process (xdist starts three) exit without the collector's passes over
    the 400,000 objects TensorFlow's import leaves alive: over a second each (see cli.run)."""
    gc.freeze()


@pytest.fixture(autouse=True)
def _seed():
    """Seeds Keras before each test that uses it; tests of files never import it (faster)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The built book's html folder: $BOOK_HTML if set (`make test` builds the book once,
    strictly, and passes it on), else the book built strictly (-W -n) into a scratch folder."""
    prebuilt = os.environ.get("BOOK_HTML")
    if prebuilt:
        html = Path(prebuilt).resolve()
        assert (html / "index.html").is_file(), f"BOOK_HTML={prebuilt} holds no built book"
        return html
    from tests.sitebuild import build_site  # needs PyYAML, which the library's tests do not

    return build_site(tmp_path_factory.mktemp("site"))
