"""Model files nobody here wrote: damaged, hostile or absurd, each must end as one
`ModelFileError` (which the command line reports in one line with exit code 3, as
tests/test_cli.py shows), read within bounds, importing nothing.

The cases are the reviewer's findings on Keras 3.15.1: decompression bombs (a 4.5 GiB one
ended in MemoryError), JSON nested 10,000 deep (RecursionError), a file declaring 100,000
layers (no answer in two minutes), attributes and members of the wrong type ("internal
error ... this is a bug"), names that point outside the archive or at modules to import.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import h5py
import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_convert.errors import ModelFileError
from keras_convert.files import MAX_JSON_DEPTH, MAX_LAYERS, inspect_file
from keras_convert.loading import load_model
from tests import ROOT

GiB = 1 << 30
EVIL_MODULE = """
from pathlib import Path

Path(__file__).with_name("imported.marker").write_text("evilmod was imported")


class Evil:
    pass
"""


# Writing files ---------------------------------------------------------------------------


def write_archive(path, members, patch=None):
    """A zip archive of `members` (name: bytes, or name: (raw deflate bytes, size) for a
    member whose content is given compressed); `patch(info)` then edits each member's
    central directory entry, which is what zipfile (and Keras) read sizes, method and
    flags from."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            if isinstance(content, tuple):
                archive.writestr(zipfile.ZipInfo(name), content[0])  # written as given
            else:
                archive.writestr(name, content)
        for info in archive.filelist:
            content = members[info.filename]
            if isinstance(content, tuple):
                info.compress_type = zipfile.ZIP_DEFLATED
                info.file_size = content[1]
            if patch is not None:
                patch(info)
    return path


def zeros_deflated(size):
    """A raw deflate stream that expands to `size` zero bytes, made in milliseconds: after a
    full flush every MiB of zeros compresses to the same block, so the block is repeated.
    (The stream is real; only the CRC in the archive is not, which a reader checks last.)"""
    chunk = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert size % chunk == 0
    return first + repeated * (size // chunk - 1) + compressor.flush(), size


def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def with_members(source, path, **changes):
    """A copy of the archive `source` with members replaced (name with '.' as '_')."""
    members = members_of(source)
    members.update({name.replace("_", "."): value for name, value in changes.items()})
    return write_archive(path, members)


def with_model_config(source, path, value):
    """A copy of the HDF5 file `source` whose `model_config` attribute is `value`."""
    shutil.copyfile(source, path)
    with h5py.File(path, "r+") as file:
        del file.attrs["model_config"]
        file.attrs["model_config"] = value
    return path


def nested(depth):
    return "[" * depth + "]" * depth


def sequential_config(layers):
    return {"class_name": "Sequential", "config": {"name": "many", "layers": layers}}


def dense(index):
    return {"class_name": "Dense", "config": {"name": f"d{index}", "units": 1}}


# Files: one valid file of each kind, and the hostile ones made from them -------------------


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A Keras 3 `.keras`, a Keras 3 `.h5` and (with tf_keras) a Keras 2 `.h5`."""
    folder = tmp_path_factory.mktemp("valid")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(2)],
        name="small",
    )
    model.save(folder / "keras3.keras")
    model.save(folder / "keras3.h5")
    files = {"keras3.keras": folder / "keras3.keras", "keras3.h5": folder / "keras3.h5"}
    try:
        import tf_keras
    except ImportError:
        return files
    k2 = tf_keras.Sequential(
        [tf_keras.Input((4,)), tf_keras.layers.Dense(3, name="hidden"), tf_keras.layers.Dense(2)]
    )
    k2.save(folder / "keras2.h5")
    files["keras2.h5"] = folder / "keras2.h5"
    return files


def keras2_h5(valid):
    if "keras2.h5" not in valid:
        pytest.skip("tf_keras is not installed")
    return valid["keras2.h5"]


def without_group(group):
    def make(valid, path):
        shutil.copyfile(keras2_h5(valid), path)
        with h5py.File(path, "r+") as file:
            del file[group]
        return path

    return make


# (file name, how to write it, words the cause must hold)
CASES = [
    (
        "parent_member.keras",
        lambda valid, path: write_archive(
            path, {**members_of(valid["keras3.keras"]), "../escaped.txt": b"x"}
        ),
        "outside the archive: '../escaped.txt'",
    ),
    (
        "absolute_member.keras",
        lambda valid, path: write_archive(
            path, {**members_of(valid["keras3.keras"]), "/tmp/escaped.txt": b"x"}
        ),
        "outside the archive: '/tmp/escaped.txt'",
    ),
    (
        "config_bomb_1gib.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"], path, config_json=zeros_deflated(GiB)
        ),
        "config.json declares 1.0 GiB, more than the 32.0 MiB",
    ),
    (
        "config_bomb_4_5gib.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"], path, config_json=zeros_deflated(9 * GiB // 2)
        ),
        "config.json declares 4.5 GiB",
    ),
    (
        "weights_bomb_1gib.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"], path, model_weights_h5=zeros_deflated(GiB)
        ),
        "'model.weights.h5' declares 1.0 GiB stored in 1.0 MiB: a decompression bomb",
    ),
    (
        "weights_bomb_4_5gib.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"], path, model_weights_h5=zeros_deflated(9 * GiB // 2)
        ),
        "declares 4.5 GiB stored in 4.6 MiB: a decompression bomb",
    ),
    (
        "deep_config.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"],
            path,
            config_json=b'{"class_name": "Sequential", "config": {"layers": '
            + nested(10_000).encode()
            + b"}}",
        ),
        f"config.json is nested more than {MAX_JSON_DEPTH} levels deep",
    ),
    (
        "many_layers.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"],
            path,
            config_json=json.dumps(sequential_config([dense(i) for i in range(100_000)])).encode(),
        ),
        "declares more than 5,000 layers",
    ),
    (
        "many_nested_layers.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"],
            path,
            config_json=json.dumps(
                sequential_config(
                    [sequential_config([dense(f"{n}_{i}") for i in range(2_000)]) for n in range(2)]
                    + [
                        {
                            "class_name": "Bidirectional",
                            "config": {"layer": sequential_config([dense(i) for i in range(999)])},
                        }
                    ]
                )
            ).encode(),
        ),
        "declares more than 5,000 layers",
    ),
    (
        "config_a_list.keras",
        lambda valid, path: with_members(valid["keras3.keras"], path, config_json=b"[1, 2]"),
        "its config.json holds a list, not a model's configuration",
    ),
    (
        "config_without_class.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"], path, config_json=b'{"config": {}}'
        ),
        'its config.json is not a model\'s configuration (no "class_name" and "config")',
    ),
    (
        "config_bad_utf8.keras",
        lambda valid, path: with_members(
            valid["keras3.keras"], path, config_json=b'{"class_name": "\xff"}'
        ),
        "its config.json is not UTF-8 text (invalid start byte at byte 16)",
    ),
    (
        "metadata_a_list.keras",
        lambda valid, path: with_members(valid["keras3.keras"], path, metadata_json=b"[]"),
        "its metadata.json holds a list, not an object",
    ),
    (
        "unknown_method.keras",
        lambda valid, path: write_archive(
            path,
            members_of(valid["keras3.keras"]),
            lambda info: setattr(info, "compress_type", 99),
        ),
        "uses compression method 99, which Python's zipfile does not read",
    ),
    (
        "encrypted.keras",
        lambda valid, path: write_archive(
            path,
            members_of(valid["keras3.keras"]),
            lambda info: setattr(info, "flag_bits", info.flag_bits | 0x1),
        ),
        "is encrypted",
    ),
    (
        "model_config_not_json.h5",
        lambda valid, path: with_model_config(valid["keras3.h5"], path, "not json {"),
        "its model_config is not valid JSON (Expecting value: line 1 column 1 (char 0))",
    ),
    (
        "model_config_bad_utf8.h5",
        lambda valid, path: with_model_config(valid["keras3.h5"], path, b'{"a": "\xff\xfe"}'),
        "its model_config is not UTF-8 text",
    ),
    (
        "model_config_integer.h5",
        lambda valid, path: with_model_config(valid["keras3.h5"], path, 7),
        "its model_config attribute holds an integer, not text",
    ),
    (
        "model_config_deep.h5",
        lambda valid, path: with_model_config(valid["keras3.h5"], path, nested(10_000)),
        f"its model_config is nested more than {MAX_JSON_DEPTH} levels deep",
    ),
    ("no_model_weights.h5", without_group("model_weights"), "model_weights"),
    ("no_layer_group.h5", without_group("model_weights/hidden"), "hidden"),
]


@pytest.fixture(scope="module")
def hostile(valid, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return {name: make(valid, folder / name) for name, make, _ in CASES if _needs_met(name, valid)}


def _needs_met(name, valid):
    keras2_cases = ("no_model_weights.h5", "no_layer_group.h5")
    return name not in keras2_cases or "keras2.h5" in valid


@pytest.mark.parametrize(("name", "cause"), [(name, cause) for name, _, cause in CASES])
def test_a_hostile_file_is_refused_in_one_line_naming_the_cause(hostile, name, cause):
    if name not in hostile:
        pytest.skip("tf_keras is not installed")
    with pytest.raises(ModelFileError) as error:
        load_model(hostile[name])
    message = str(error.value)
    assert cause in error.value.cause, message
    assert "\n" not in message and len(error.value.cause) <= 200, message


def test_the_layer_cap_is_a_parameter_and_counts_nested_and_wrapped_layers(hostile, valid):
    assert inspect_file(hostile["many_layers.keras"], max_layers=100_000).layer_count == 100_000
    # 3 in the outer model, 2 × 2,000 in the two nested ones, the model a Bidirectional
    # wraps, and its 999.
    assert inspect_file(hostile["many_nested_layers.keras"], max_layers=6_000).layer_count == 5_003
    assert inspect_file(valid["keras3.keras"]).layer_count == 3  # its InputLayer and 2 Dense
    with pytest.raises(ModelFileError) as error:
        inspect_file(hostile["many_layers.keras"], max_layers=99_999)
    assert error.value.remedy == "if you trust this file, raise the limit (max_layers=...)"
    assert MAX_LAYERS == 5_000


def test_a_header_check_reads_no_configuration_but_refuses_bombs(hostile, valid):
    saved = inspect_file(valid["keras3.keras"], read_config=False)
    assert saved.config is None and saved.keras_version == keras.__version__
    assert saved.members == ("metadata.json", "config.json", "model.weights.h5")
    assert inspect_file(hostile["deep_config.keras"], read_config=False).config is None
    with pytest.raises(ModelFileError, match="decompression bomb"):
        inspect_file(hostile["weights_bomb_4_5gib.keras"], read_config=False)


def test_a_long_name_in_a_message_is_cut_between_words_keeping_both_ends(tmp_path, valid):
    name = "layers/" + "very long name " * 20 + "/../x"
    path = write_archive(tmp_path / "long.keras", {**members_of(valid["keras3.keras"]), name: b""})
    with pytest.raises(ModelFileError) as error:
        inspect_file(path)
    cause = error.value.cause
    assert " … " in cause and cause.endswith(" very long name /../x'"), cause
    assert len(error.value.cause) <= 200


# Modules a file names ----------------------------------------------------------------


@pytest.mark.parametrize("module", ["evilmod", "this"])
def test_a_module_the_file_names_is_never_imported(valid, tmp_path, monkeypatch, capfd, module):
    """A layer of a class nothing registers, from the module `module`: the load fails, and
    neither an `evilmod.py` beside the command (the folder Python imports from first) nor
    the standard library's `this` (which prints the Zen of Python) is imported."""
    (tmp_path / "evilmod.py").write_text(EVIL_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "named.h5"
    shutil.copyfile(valid["keras3.h5"], path)
    with h5py.File(path, "r+") as file:
        config = json.loads(file.attrs["model_config"])
        layer = config["config"]["layers"][1]
        layer.update(class_name="Evil", module=module, registered_name=None)
        file.attrs["model_config"] = json.dumps(config)
    before = set(sys.modules)
    with pytest.raises(ModelFileError, match="'Evil'"):
        load_model(path)
    assert not (tmp_path / "imported.marker").exists()
    assert "Beautiful is better than ugly" not in capfd.readouterr().out
    assert module not in set(sys.modules) - before


# Bounds: memory and time of a refusal, in a fresh process --------------------------------

# The peak resident memory of the child's own program: VmHWM, since getrusage's ru_maxrss
# keeps the parent's peak across the fork and exec that start the child.
CHILD = """
import re, sys, time
from pathlib import Path
from keras_convert.errors import ModelFileError
from keras_convert.files import inspect_file

start = time.monotonic()
try:
    inspect_file(Path(sys.argv[1]))
except ModelFileError as error:
    seconds = time.monotonic() - start
    status = open("/proc/self/status").read()
    print(seconds, re.search(r"VmHWM:\\s*(\\d+) kB", status).group(1))
"""


@pytest.mark.parametrize(
    "name", ["config_bomb_4_5gib.keras", "weights_bomb_4_5gib.keras", "many_layers.keras"]
)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_a_bomb_or_a_flood_of_layers_is_refused_in_under_300_mb(hostile, name):
    """The refusal happens before anything big is read: the child's peak memory (which
    includes Python and h5py, about 60 MB) stays under 300 MB, and its time under 10 s."""
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, hostile[name]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert completed.returncode == 0, completed.stderr
    seconds, peak_kib = completed.stdout.split()
    assert int(peak_kib) < 300 * 1024, f"peak {int(peak_kib) // 1024} MB"
    assert float(seconds) < 10


# A fuzzer: valid small files, damaged ----------------------------------------------------

# The packages a load may import on first use: Keras's family and the standard library,
# less the modules whose import does something.
FAMILY = {"keras", "tensorflow", "tf_keras", "h5py", "numpy", "ml_dtypes", "absl", "google"}
FAMILY |= {"optree", "rich", "namex", "packaging", "markdown_it", "mdurl", "pygments"}
DOING_SOMETHING = {"this", "antigravity", "evilmod"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            "",
            "Dense",
            "Sequential",
            "Functional",
            "InputLayer",
            "keras.layers",
            "this",
            "evilmod",
            "../x",
            "float32",
            "relu",
            "Bidirectional",
            "x" * 300,
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "class_name",
                    "config",
                    "module",
                    "layers",
                    "name",
                    "units",
                    "layer",
                    "inbound_nodes",
                    "registered_name",
                    "build_config",
                    "batch_shape",
                    "dtype",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def _slots(value):
    """(container, key) for every value inside a parsed JSON value."""
    slots, stack = [], [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            slots.append((item, key))
            if isinstance(child, dict | list):
                stack.append(child)
    return slots


class Damaged:
    """A damaged file's name and bytes, shown by name and change only."""

    def __init__(self, name, how, data):
        self.name, self.how, self.data = name, how, data

    def __repr__(self):
        return f"Damaged({self.name!r}, {self.how!r}, {len(self.data)} bytes)"


@st.composite
def damaged(draw, valid):
    """(file name, bytes): a valid file truncated, with bytes changed, or with one JSON
    value of its configuration replaced."""
    name = draw(st.sampled_from(sorted(valid)))
    data = valid[name].read_bytes()
    how = draw(st.sampled_from(["truncate", "flip", "json"]))
    if how == "truncate":
        end = draw(st.integers(0, len(data) - 1))
        return Damaged(name, f"truncated at {end}", data[:end])
    if how == "flip":
        changed = bytearray(data)
        edits = draw(
            st.lists(
                st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                min_size=1,
                max_size=8,
            )
        )
        for position, byte in edits:
            changed[position] = byte
        return Damaged(name, f"bytes set {edits}", bytes(changed))
    if name.endswith(".keras"):
        config = json.loads(members_of(valid[name])["config.json"])
    else:
        with h5py.File(valid[name], "r") as file:
            config = json.loads(file.attrs["model_config"])
    container, key = draw(st.sampled_from(_slots(config)))
    container[key] = value = draw(json_values)
    text = json.dumps(config).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if name.endswith(".keras"):
            with_members(valid[name], path, config_json=text)
        else:
            with_model_config(valid[name], path, text)
        return Damaged(name, f"{key!r} set to {value!r}", path.read_bytes())


@pytest.fixture(scope="module")
def warmed(valid):
    """Loads each valid file once, so that what Keras imports on first use is imported."""
    for path in valid.values():
        load_model(path)
    return valid


def test_a_damaged_file_loads_or_raises_a_model_file_error_importing_nothing(warmed):
    folder = Path(tempfile.mkdtemp())

    @settings(
        max_examples=100,
        derandomize=True,
        deadline=timedelta(seconds=10),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(damaged(warmed))
    def loads_or_refuses(case):
        path = folder / case.name
        path.write_bytes(case.data)
        before = set(sys.modules)
        with contextlib.suppress(ModelFileError, OSError):
            load_model(path, compile=False)
        new = {module.split(".")[0] for module in set(sys.modules) - before}
        imported = {
            module
            for module in new
            if module not in FAMILY
            and (module not in sys.stdlib_module_names or module in DOING_SOMETHING)
        }
        assert not imported, f"loading imported {sorted(imported)}"

    try:
        loads_or_refuses()
    finally:
        shutil.rmtree(folder)
