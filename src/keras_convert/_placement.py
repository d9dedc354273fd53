"""Putting the command line's outputs in place safely, and SIGTERM as an exception.

An output is first written to a temporary file or folder beside it (`temporary_beside`),
checked there, and only then put in place (`place`): with `force` by renaming it over what is
there, without by creating the output exclusively (a hard link, or `O_EXCL`; a folder made
empty and exclusively, then renamed onto), so that a file that appears meanwhile is never
replaced. The temporary is removed whatever happens: Ctrl-C raises `KeyboardInterrupt` and,
under `sigterm_raises`, SIGTERM raises `Terminated`, so `finally` blocks run for both.
Imports nothing heavy: the command line uses it before Keras is imported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

__all__ = [
    "PlacementError",
    "Terminated",
    "place",
    "reason",
    "sigterm_raises",
    "temporary_beside",
]


class PlacementError(Exception):
    """An output cannot be put in place, said in one line (exit code 4 on the command line)."""


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that `finally` blocks clean up."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` for the duration; the previous handler is restored after."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame) -> NoReturn:
    raise Terminated


@contextlib.contextmanager
def temporary_beside(output: Path, suffix: str | None) -> Iterator[Path]:
    """A new temporary file named `*suffix` (a folder if `suffix` is None) in `output`'s
    folder, with the permissions a new file or folder would get; removed at the end,
    whatever happens, unless it has been put in place.

    Raises:
        PlacementError: the folder has no room for it, or is not writable.
    """
    try:
        if suffix is None:
            temporary = Path(tempfile.mkdtemp(prefix=".keras-convert-", dir=output.parent))
        else:
            handle, name = tempfile.mkstemp(
                prefix=".keras-convert-", suffix=suffix, dir=output.parent
            )
            os.close(handle)
            temporary = Path(name)
    except OSError as error:
        raise PlacementError(f"cannot write in '{output.parent}': {reason(error)}") from error
    try:
        umask = os.umask(0)
        os.umask(umask)
        # mkstemp and mkdtemp make it private; the output is not.
        os.chmod(temporary, (0o777 if suffix is None else 0o666) & ~umask)
        yield temporary
    finally:
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


def place(temporary: Path, output: Path, *, force: bool, doing: str) -> None:
    """Gives the temporary file or folder the name `output`, over what is there only if
    `force`.

    Args:
        temporary: From `temporary_beside(output, ...)`.
        output: Where it goes.
        force: Replace what `output` names (a file, a link, or a folder).
        doing: What the command was doing ("converting"), for the message.

    Raises:
        PlacementError: without `force`, `output` appeared after it was checked; it is kept.
        OSError: the file system refused.
    """
    if temporary.is_dir():
        _place_folder(temporary, output, force=force, doing=doing)
    elif force:
        os.replace(temporary, output)
    else:
        _place_exclusively(temporary, output, doing=doing)


def reason(error: OSError) -> str:
    """What the operating system says went wrong, in lower case for the middle of a line."""
    return (error.strerror or str(error)).lower()


def _place_exclusively(temporary: Path, output: Path, *, doing: str) -> None:
    """Gives `temporary`'s content the name `output`, failing if `output` exists (a file, a
    directory or a symbolic link, dangling or not) at that moment."""
    try:
        os.link(temporary, output)
        return
    except FileExistsError as error:
        raise _appeared(output, doing) from error
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
    # A file system without hard links: create the output exclusively and copy.
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError as error:
        raise _appeared(output, doing) from error
    try:
        with os.fdopen(descriptor, "wb") as target, open(temporary, "rb") as source:
            shutil.copyfileobj(source, target)
    except BaseException:
        output.unlink(missing_ok=True)
        raise


def _place_folder(temporary: Path, output: Path, *, force: bool, doing: str) -> None:
    """Renames the folder `temporary` to `output`. Without `force`, `output` is first
    created exclusively (empty, so that the rename replaces it in one step); with `force`,
    what is there is moved aside, the new folder renamed in, and the old one removed."""
    if not force or not os.path.lexists(output):
        try:
            os.mkdir(output)
        except FileExistsError as error:
            raise _appeared(output, doing) from error
        try:
            os.rename(temporary, output)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise _appeared(output, doing) from error
            os.rmdir(output)
            raise
        return
    aside = Path(tempfile.mkdtemp(prefix=".keras-convert-old-", dir=output.parent))
    try:
        os.rename(output, aside / "old")
        try:
            os.rename(temporary, output)
        except BaseException:
            os.rename(aside / "old", output)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _appeared(output: Path, doing: str) -> PlacementError:
    return PlacementError(
        f"'{output}' appeared while {doing}; it is kept: pass --force to overwrite it"
    )
