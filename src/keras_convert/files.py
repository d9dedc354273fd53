"""What a model file is, read from its first bytes and its header, without Keras.

`inspect_file` tells a `.keras` archive from an HDF5 file, refuses what is not a regular
file before opening it (a FIFO would block), and reads the version of Keras that wrote the
file and the model's configuration. The command line runs it before the seconds-long import
of Keras, so a wrong path is reported at once; `load_model` runs it first too.

Files come from anyone, so every read is bounded before it happens: an archive's members
are checked in its directory (sizes, compression, encryption, names) before one is opened,
as Keras's `saving_lib` does; JSON is read with a size cap and its nesting depth measured
before it is parsed; and the configuration's layers are counted before Keras builds them.
Whatever is wrong ends as one `ModelFileError`, never as another exception.
"""

from __future__ import annotations

import json
import lzma
import math
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_convert.errors import ModelFileError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_LAYERS",
    "SavedFile",
    "check_hdf5",
    "inspect_file",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"

# The largest keras.applications models have about 1,000 layers (NASNetLarge 1,041,
# EfficientNetV2L 1,031); Keras 3.15 builds about 150 layers a second on a CPU (a 4,000-layer
# model loads in 27 s), so 5,000 layers is five times the largest model and about half a
# minute of work, where a 300 KB file declaring 100,000 layers would take ten minutes.
MAX_LAYERS = 5_000
# Those models' config.json is nested 12 deep and holds about 1 KB a layer (NASNetLarge:
# 1.1 MB); Python's json parser recurses, and so do Keras's readers of configurations.
MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 32 << 20
# A member that expands more than 100 times its stored size and past 256 MiB is a
# decompression bomb: Keras stores members uncompressed (ratio 1), and real weights compress
# little. Keras 3.15's own guard uses the same ratio, with a floor of 4 GiB for reading a
# member into memory and 256 MiB for extracting it to disk (`saving_lib._reject_zip_bomb`).
BOMB_FLOOR_BYTES = 1 << 28
MAX_EXPANSION = 100
# The methods Python's zipfile reads; another one (or the encrypted flag) fails on open.
READABLE_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
JSON_MEMBERS = ("config.json", "metadata.json")
# Keys under which a Keras configuration holds one layer, or a list of them.
LAYER_KEYS = frozenset({"layer", "forward_layer", "backward_layer", "cell"})
LAYER_LIST_KEYS = frozenset({"layers", "cells"})
# A message keeps at most this many characters of text taken from the file or a parser.
QUOTE_LIMIT = 100


class SavedFile:
    """What a model file's own header says, read without building anything.

    Attributes:
        format: "keras" (a zip archive) or "h5".
        keras_version: The version of Keras that wrote it ("" if the file does not say).
        config: The model's configuration: a dict with "class_name" and "config", checked
            for size, nesting depth and layer count; None if it was not read
            (`inspect_file(..., read_config=False)`).
        layer_count: The number of layers the configuration declares, nested models' and
            wrapped layers' included (None if the configuration was not read).
        members: The names in the archive (a `.keras` file), checked for size, compression,
            encryption and path; empty for an HDF5 file.
    """

    def __init__(
        self,
        format: str,
        keras_version: str,
        config: dict | None,
        *,
        layer_count: int | None = None,
        members: tuple[str, ...] = (),
    ) -> None:
        self.format = format
        self.keras_version = keras_version
        self.config = config
        self.layer_count = layer_count
        self.members = members


def inspect_file(
    path: Path,
    *,
    read_config: bool = True,
    max_layers: int = MAX_LAYERS,
) -> SavedFile:
    """Checks that `path` is a readable `.keras` or `.h5` model file and reads its header.

    Nothing is read unbounded: an archive member that would expand past its caps, a JSON
    text nested deeper than `MAX_JSON_DEPTH` or a configuration of more than `max_layers`
    layers is refused before it is read, parsed or built.

    Args:
        path: The file.
        read_config: Read and check the model's configuration. False checks only what is
            cheap (the kind of file, an archive's directory, `metadata.json`, the size of an
            HDF5 file's configuration), as the command line does before importing Keras;
            the loader then reads the configuration once.
        max_layers: The most layers the configuration may declare, nested and wrapped
            layers included (default `MAX_LAYERS`, 5,000: five times the largest
            `keras.applications` model).

    Returns:
        A `SavedFile`; its `config` is what a loader should build (parsed once).

    Raises:
        FileNotFoundError: there is no such file.
        PermissionError: it cannot be read.
        ModelFileError: it is not a model file, or a damaged or hostile one (the `cause`
            says why).

    Example:

    ```python
    saved = inspect_file(Path("model.keras"))
    print(saved.format, saved.keras_version, saved.layer_count)
    ```
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
        reader = _read_archive
    elif not head.startswith(HDF5_SIGNATURE):
        raise ModelFileError(path, "it is not an HDF5 file, so not an .h5 model file")
    else:
        reader = _read_hdf5
    try:
        saved = reader(path, read_config)
    except RecursionError as error:  # a parser's recursion the depth check did not foresee
        raise ModelFileError(path, "it is nested too deeply to read") from error
    except MemoryError as error:
        raise ModelFileError(path, "reading it ran out of memory") from error
    if saved.config is not None:
        saved.layer_count = _count_layers(path, saved.config, max_layers)
    return saved


def _read_archive(path: Path, read_config: bool) -> SavedFile:
    with open(path, "rb") as handle:  # an OSError here is the file's, not its content's
        return _read_zip(path, handle, read_config)


def _read_zip(path: Path, handle: Any, read_config: bool) -> SavedFile:
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
            _check_members(path, infos)
            names = tuple(info.filename for info in infos)
            if "config.json" not in names:
                raise ModelFileError(path, "the zip archive holds no config.json")
            metadata: Any = {}
            if "metadata.json" in names:
                metadata = _parse_json(
                    path, _read_member(path, archive, "metadata.json"), "metadata.json"
                )
            if not isinstance(metadata, dict):
                raise ModelFileError(
                    path, f"its metadata.json holds {_json_kind(metadata)}, not an object"
                )
            config = None
            if read_config:
                text = _read_member(path, archive, "config.json")
                config = _model_config(path, _parse_json(path, text, "config.json"), "config.json")
    except ModelFileError:
        raise
    # What zipfile and its decompressors raise on damaged data (bz2: OSError).
    except (zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError, OSError) as error:
        raise ModelFileError(path, "the zip archive is truncated or damaged") from error
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, ValueError) as error:
        raise ModelFileError(path, f"the zip archive cannot be read ({_quote(error)})") from error
    return SavedFile("keras", _version(metadata.get("keras_version")), config, members=names)


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuses an archive whose directory announces trouble, before any member is read."""
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", name):
            raise ModelFileError(
                path, f"its zip archive names a member outside the archive: '{_quote(name)}'"
            )
        if name in seen:
            raise ModelFileError(path, f"its zip archive holds two members named '{_quote(name)}'")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ModelFileError(path, f"its zip member '{_quote(name)}' is encrypted")
        if info.compress_type not in READABLE_METHODS:
            raise ModelFileError(
                path,
                f"its zip member '{_quote(name)}' uses compression method "
                f"{info.compress_type}, which Python's zipfile does not read",
            )
        if name in JSON_MEMBERS and info.file_size > MAX_JSON_BYTES:
            raise ModelFileError(
                path,
                f"its {name} declares {_size(info.file_size)}, more than the "
                f"{_size(MAX_JSON_BYTES)} a model configuration takes",
            )
        if info.file_size > BOMB_FLOOR_BYTES and info.file_size > MAX_EXPANSION * max(
            info.compress_size, 1
        ):
            raise ModelFileError(
                path,
                f"its zip member '{_quote(name)}' declares {_size(info.file_size)} stored in "
                f"{_size(info.compress_size)}: a decompression bomb",
            )


def _read_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    """The member's bytes; zipfile stops at the size the directory declares (checked above)."""
    with archive.open(name) as member:
        data = member.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ModelFileError(path, f"its {name} holds more than {_size(MAX_JSON_BYTES)}")
    return data


def _read_hdf5(path: Path, read_config: bool) -> SavedFile:
    import h5py

    try:
        with h5py.File(path, "r") as file:
            if "model_config" not in file.attrs:
                raise ModelFileError(
                    path,
                    "it holds weights only, no model",
                    remedy="build the model in code, then call model.load_weights(path)",
                )
            _check_attribute_size(path, file, "model_config")
            _check_attribute_size(path, file, "keras_version")
            version = _text_attribute(path, file.attrs.get("keras_version", ""), "keras_version")
            config = None
            if read_config:
                check_hdf5(path, file)
                text = _text_attribute(path, file.attrs["model_config"], "model_config")
                config = _model_config(
                    path, _parse_json(path, text, "model_config"), "model_config"
                )
    except ModelFileError:
        raise
    # What h5py raises on damaged data; the file was opened (and its signature read) before.
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ModelFileError(path, "the HDF5 file is truncated or damaged") from error
    return SavedFile("h5", _version(version), config)


def check_hdf5(path: Path, file: Any) -> None:
    """Refuses an open HDF5 file (an `h5py.File` or group) whose objects are damaged, point
    outside it, or would expand in memory far beyond what it stores, before anything is
    read: every object's header is opened, no array's data.

    Refused as Keras's `saving_lib.safe_get_h5_dataset` refuses them: links (soft and
    external: a file may not make the loader read another file), datasets stored in other
    files or virtual, and a dataset that declares more than `BOMB_FLOOR_BYTES` and more
    than `MAX_EXPANSION` times the bytes it stores.

    Raises:
        ModelFileError: one of those, naming the object.
    """

    links: list[tuple[str, Any]] = []
    try:
        # The visit only collects: an exception raised inside h5py's callback surfaces as
        # a SystemError.
        file.visititems_links(lambda name, link: links.append((name, link)))
    # h5py's own failure while it visits a damaged object surfaces as a SystemError.
    except (KeyError, OSError, ValueError, RuntimeError, SystemError) as error:
        raise ModelFileError(
            path, f"the HDF5 file's objects are damaged ({_quote(error)})"
        ) from error
    for name, link in links:
        _check_hdf5_object(path, file, name, link)


def _check_hdf5_object(path: Path, file: Any, name: str, link: Any) -> None:
    import h5py

    where = f"{file.name.rstrip('/')}/{name}"
    if link is None:  # h5py's answer for a link it cannot read
        raise ModelFileError(path, f"its HDF5 object '{_quote(where)}' is damaged")
    if not isinstance(link, h5py.HardLink):
        raise ModelFileError(
            path, f"its HDF5 object '{_quote(where)}' is a {type(link).__name__}, not data"
        )
    try:
        item = file[name]
        if not isinstance(item, h5py.Dataset):
            return
        external = item.external or item.is_virtual
        declared = math.prod(item.shape or ()) * item.dtype.itemsize
        stored = item.id.get_storage_size()
    except (KeyError, OSError, ValueError, RuntimeError, TypeError) as error:
        raise ModelFileError(
            path, f"its HDF5 object '{_quote(where)}' is damaged ({_quote(error)})"
        ) from error
    if external:
        raise ModelFileError(
            path, f"its HDF5 dataset '{_quote(where)}' keeps its data in other files"
        )
    if declared > BOMB_FLOOR_BYTES and declared > MAX_EXPANSION * stored:
        raise ModelFileError(
            path,
            f"its HDF5 dataset '{_quote(where)}' declares {_size(declared)} stored in "
            f"{_size(stored)}: a decompression bomb",
        )


def _check_attribute_size(path: Path, file: Any, name: str) -> None:
    """Refuses an HDF5 attribute larger than a configuration, before reading it. A string of
    variable length lives in the file's heap, which HDF5 never compresses: no bigger than
    the file itself, and checked once read."""
    import h5py

    if name not in file.attrs:
        return
    attribute = h5py.h5a.open(file.id, name.encode())
    declared = math.prod(attribute.shape or ()) * attribute.dtype.itemsize
    if max(declared, attribute.get_storage_size()) > MAX_JSON_BYTES:
        raise ModelFileError(
            path,
            f"its {name} attribute declares {_size(declared)}, more than the "
            f"{_size(MAX_JSON_BYTES)} a model configuration takes",
        )


def _text_attribute(path: Path, value: Any, name: str) -> str | bytes:
    """An HDF5 attribute that should hold text (h5py gives bytes, str or numpy values)."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.shape in ((), (1,)):
        value = value.reshape(-1)[0] if value.shape else value[()]
    if isinstance(value, str | bytes):
        if len(value) > MAX_JSON_BYTES:
            raise ModelFileError(
                path, f"its {name} attribute holds more than {_size(MAX_JSON_BYTES)}"
            )
        return value
    kind = type(value).__name__
    if isinstance(value, np.ndarray):
        kind = f"an array of shape {value.shape}"
    elif isinstance(value, np.integer | int):
        kind = "an integer"
    elif isinstance(value, np.floating | float):
        kind = "a number"
    raise ModelFileError(path, f"its {name} attribute holds {kind}, not text")


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")


def _parse_json(path: Path, text: str | bytes, name: str) -> Any:
    """The JSON value in `text`, after checking that it is nested at most `MAX_JSON_DEPTH`
    deep (Python's parser recurses once per level, and fails past about a thousand)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _too_deep(data, MAX_JSON_DEPTH):
        raise ModelFileError(path, f"its {name} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ModelFileError(
            path, f"its {name} is not UTF-8 text ({_quote(error.reason)} at byte {error.start})"
        ) from error
    except ValueError as error:  # json.JSONDecodeError, or a number too long to convert
        raise ModelFileError(path, f"its {name} is not valid JSON ({_quote(error)})") from error


def _too_deep(data: bytes, limit: int) -> bool:
    """Whether the JSON text `data` nests arrays and objects more than `limit` deep.

    Strings are removed, then only brackets kept, braces as brackets; each pass removes the
    innermost pairs, so a text nested n deep empties in n passes, and a run of openers
    longer than the levels left says at once that it is too deep. All of it runs in C:
    a 32 MB text takes about a second. Brackets that do not pair are left to the parser."""
    brackets = _JSON_STRING.sub(b"", data).translate(_BRACES_AS_BRACKETS, _NOT_BRACKETS)
    for removed in range(limit):
        if b"[" * (limit - removed + 1) in brackets:
            return True
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            return False
        brackets = inner
    return b"[]" in brackets


def _model_config(path: Path, value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise ModelFileError(
            path, f"its {name} holds {_json_kind(value)}, not a model's configuration"
        )
    if not isinstance(value.get("class_name"), str) or not isinstance(value.get("config"), dict):
        raise ModelFileError(
            path,
            f'its {name} is not a model\'s configuration (no "class_name" and "config")',
        )
    return value


def _count_layers(path: Path, config: dict, max_layers: int) -> int:
    """The layers `config` declares, everywhere in it: a model's layers, nested models',
    wrapped layers (`Bidirectional`, `TimeDistributed`) and RNN cells, each checked to be a
    layer's configuration. Refuses more than `max_layers` as soon as it counts them."""
    count = 0
    for value in _walk(config):
        for key, item in value.items():
            if key in LAYER_LIST_KEYS and isinstance(item, list):
                layers = [entry for entry in item if _is_layer(entry)]
            elif key in LAYER_KEYS and _is_layer(item):
                layers = [item]
            else:
                continue
            for layer in layers:
                _check_layer(path, layer)
            count += len(layers)
        if count > max_layers:
            raise ModelFileError(
                path,
                f"its configuration declares more than {max_layers:,} layers, more than "
                "keras_convert builds by default",
                remedy="if you trust this file, raise the limit (max_layers=...)",
                needs="max_layers",
            )
    return count


def _check_layer(path: Path, layer: dict) -> None:
    """Refuses a layer's configuration whose fields have the wrong type, which Keras and
    the loader's diagnosis would otherwise trip over (a list for a class name)."""
    name = layer["class_name"]
    if not isinstance(name, str):
        raise ModelFileError(
            path, f"its configuration names a layer class with {_json_kind(name)}, not a name"
        )
    if not isinstance(layer.get("config", {}), dict):
        raise ModelFileError(
            path, f"its configuration of a '{_quote(name)}' layer is not an object"
        )
    for key in ("module", "registered_name"):
        if not isinstance(layer.get(key) or "", str):
            raise ModelFileError(
                path, f"its configuration of a '{_quote(name)}' layer has a {key} that is not text"
            )


def _walk(value: Any) -> Iterator[dict]:
    """Every dict inside a parsed JSON value (iteratively: the value may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _is_layer(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value


def _version(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and len(value) <= 40 else ""


def _json_kind(value: Any) -> str:
    kinds = {
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        dict: "an object",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)


def _quote(value: object) -> str:
    """`value` as text on one line; if longer than `QUOTE_LIMIT`, its start and its end
    (where a path's telling part is), cut between words or path components."""
    text = " ".join(str(value).split())
    if len(text) <= QUOTE_LIMIT:
        return text
    head = text[: QUOTE_LIMIT * 3 // 5]
    tail = text[-(QUOTE_LIMIT * 2 // 5) :]
    head = head[: max(head.rfind(" "), head.rfind("/")) + 1] or head
    tail = tail[min(i for i in (tail.find(" "), tail.find("/"), len(tail)) if i >= 0) :] or tail
    return f"{head.rstrip()} … {tail.lstrip()}"


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")
