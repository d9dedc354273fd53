"""The test suite. `ROOT` lives here so that tests of files (the book, the site, the tools)
need not import Keras; the Keras helpers are in `tests.helpers`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
