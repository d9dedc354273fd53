"""What keras_convert does to its own process: imports nothing heavy, so the command line can
use it before Keras is imported."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["c_stderr_closed"]


@contextlib.contextmanager
def c_stderr_closed() -> Iterator[None]:
    """The process's C-level stderr goes to /dev/null for the duration.

    TensorFlow's import, the ONNX and LiteRT converters and the LiteRT interpreter write
    notices there ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") that no setting
    silences; Python exceptions still raise, and callers report them themselves.
    """
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
