"""What a model file is, read from its first bytes and its header, without Keras.

`inspect_file` tells a `.keras` archive from an HDF5 file, refuses what is not a regular
file before opening it (a FIFO would block), and reads the version of Keras that wrote the
file and the model's configuration. The command line runs it before the seconds-long import
of Keras, so a wrong path is reported at once; `load_model` runs it first too.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

from keras_convert.errors import ModelFileError

__all__ = ["SavedFile", "inspect_file"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"


class SavedFile:
    """What a model file's own header says, read without building anything.

    Attributes:
        format: "keras" (a zip archive) or "h5".
        keras_version: The version of Keras that wrote it ("" if the file does not say).
        config: The model's configuration (a dict; None if the file holds none).
    """

    def __init__(self, format: str, keras_version: str, config: dict | None) -> None:
        self.format = format
        self.keras_version = keras_version
        self.config = config


def inspect_file(path: Path) -> SavedFile:
    """Checks that `path` is a readable `.keras` or `.h5` model file and reads its header.

    Raises:
        FileNotFoundError: there is no such file.
        PermissionError: it cannot be read.
        ModelFileError: it is not a model file (the `cause` says why).
    """
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        if (path / "saved_model.pb").is_file():
            raise ModelFileError(
                path,
                "it is a TensorFlow SavedModel, which Keras 3 loads only for inference "
                "(keras.layers.TFSMLayer), with no layers to convert",
                remedy="load the architecture and weights from a .keras or .h5 file",
            )
        raise ModelFileError(path, "it is a directory, not a model file")
    if not stat.S_ISREG(mode):
        raise ModelFileError(path, f"it is not a regular file but a {_file_kind(mode)}")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelFileError(path, "it is not a .keras or .h5 file (judging by its name)")
    with open(path, "rb") as file:
        head = file.read(8)
    if not head:
        raise ModelFileError(path, "the file is empty")
    if path.suffix == ".keras":
        if head.startswith(HDF5_SIGNATURE[:4]):
            raise ModelFileError(
                path, "it is an HDF5 file with a .keras name", remedy="rename it to .h5"
            )
        if not head.startswith(ZIP_SIGNATURE):
            raise ModelFileError(path, "it is not a zip file, so not a .keras file")
        return _read_archive(path)
    if not head.startswith(HDF5_SIGNATURE):
        raise ModelFileError(path, "it is not an HDF5 file, so not an .h5 model file")
    return _read_hdf5(path)


def _read_archive(path: Path) -> SavedFile:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise ModelFileError(path, "the zip archive holds no config.json")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
    except zipfile.BadZipFile as error:
        raise ModelFileError(path, "the zip archive is truncated or damaged") from error
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise ModelFileError(path, "its config.json is not valid JSON") from error
    return SavedFile("keras", str(metadata.get("keras_version", "")), config)


def _read_hdf5(path: Path) -> SavedFile:
    import h5py

    try:
        with h5py.File(path, "r") as file:
            config = file.attrs.get("model_config")
            version = file.attrs.get("keras_version", "")
    except OSError as error:
        raise ModelFileError(path, "the HDF5 file is truncated or damaged") from error
    if config is None:
        raise ModelFileError(
            path,
            "it holds weights only, no model",
            remedy="build the model in code, then call model.load_weights(path)",
        )
    decoded = config.decode("utf-8") if isinstance(config, bytes) else config
    version = version.decode("utf-8") if isinstance(version, bytes) else str(version)
    return SavedFile("h5", version, json.loads(decoded))


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")
