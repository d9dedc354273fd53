"""The `keras-convert` command line, on model files the tests write: as a subprocess where
only a process shows the behaviour (exit code, what reaches stdout and stderr), else in
process (`cli.main`), sparing a TensorFlow import."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from keras_convert import cli
from keras_convert.errors import NotEquivalentError
from tests import ROOT
from tests.helpers import one_line, residual, run, sample_input

MODULE_FILE = "custom_models.py"
MODULE = """
import keras


@keras.saving.register_keras_serializable(package="cli_test")
class Twice(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2, name="dense")

    def call(self, x):
        return self.dense(x) * 2.0
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A folder with a Sequential, an unbuilt, a branched and a two-output model, a legacy
    .h5, a Lambda model, a subclassed model (and the module defining it), a non-model and a
    named pipe."""
    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    keras.Sequential(
        [
            keras.Input((4,), name="features"),
            layers.Dense(3, name="hidden"),
            layers.Dense(2, name="head"),
        ],
        name="mlp",
    ).save(folder / "mlp.keras")
    keras.Sequential([layers.Dense(2, name="head")], name="unbuilt").save(folder / "unbuilt.keras")
    branched = residual()
    branched.save(folder / "residual.keras")
    heads = [branched.get_layer("a").output, branched.get_layer("add").output]
    keras.Model(branched.input, heads, name="two_heads").save(folder / "two_heads.keras")
    keras.Sequential([keras.Input((4,)), layers.Dense(2, name="d")], name="legacy").save(
        folder / "legacy.h5"
    )
    keras.Sequential(
        [keras.Input((4,)), layers.Lambda(lambda t: t * 2.0, name="double")], name="lam"
    ).save(folder / "lambda.keras")
    # Not next to the model files: Keras 3.6 to 3.9 import a model's module by its name
    # when it is on sys.path (as the working folder is for `python -m`).
    (folder / "modules").mkdir()
    (folder / "modules" / MODULE_FILE).write_text(MODULE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("custom_models", folder / "modules" / MODULE_FILE)
    custom_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(custom_models)
    twice = custom_models.Twice(name="twice")
    twice(np.ones((1, 4)))
    twice.save(folder / "twice.keras")
    (folder / "not_a_model.keras").write_text("hello", encoding="utf-8")
    os.mkfifo(folder / "pipe.keras")
    (folder / "exported").mkdir()
    (folder / "exported" / "saved_model.pb").write_bytes(b"")  # what a SavedModel folder holds
    return folder


def test_help_lists_the_commands_and_the_exit_codes(files):
    code, out, _ = run("--help", cwd=files)
    assert code == 0
    assert "inspect" in out and "convert" in out
    for number, meaning in cli.EXIT_CODES.items():
        assert re.search(rf"^ +{number} +{re.escape(meaning)}$", out, re.M), number


@pytest.fixture(scope="module")
def inspected(files):
    """One `inspect` of nine files, five of which do not load, the last one loading after
    them (the command costs a TensorFlow import, so the tests below share it); a named pipe,
    which a reader would wait on forever, fails `run`'s timeout if it blocks: (exit code,
    sections, stderr)."""
    code, out, err = run(
        "inspect",
        "mlp.keras",
        "residual.keras",
        "two_heads.keras",
        "missing.keras",
        "lambda.keras",
        "twice.keras",
        "pipe.keras",
        "not_a_model.keras",
        "unbuilt.keras",
        cwd=files,
    )
    return code, out.split("\n\n"), err


def test_inspect_a_sequential_model(inspected):
    _, sections, _ = inspected
    assert sections[0].splitlines() == [
        "file:        mlp.keras",
        "api:         Sequential (model 'mlp')",
        "layers:      2",
        "parameters:  23 (23 trainable)",
        "inputs:      features (None, 4) float32",
        "outputs:     head (None, 2) float32",
        "sequential:  yes: it is a Sequential model",
    ]


def test_inspect_a_branched_model_says_where_and_which_flag_works(inspected):
    _, sections, _ = inspected
    assert sections[1].startswith("file:        residual.keras")
    verdict = sections[1].splitlines()[-1]
    assert verdict.startswith("sequential:  no: the output of layer 'a' feeds 2 layers")
    assert "merges again at layer 'add'" in verdict
    assert "--group-branches converts it to 3 steps (1 of them a Functional block)" in verdict


def test_inspect_a_two_output_model_says_to_keep_it_functional(inspected):
    _, sections, _ = inspected
    assert sections[2].startswith("file:        two_heads.keras")
    assert "has 2 outputs" in sections[2] and "keep it Functional" in sections[2]


def test_inspect_an_unbuilt_model_says_its_parameters_are_unknown(inspected):
    _, sections, _ = inspected
    assert sections[3].startswith("file:        unbuilt.keras")
    assert "parameters:  unknown: the model is not built" in sections[3]


def test_inspect_reports_each_file_that_does_not_load_in_one_line_and_goes_on(inspected):
    """Each cause as `load_model` words it (tests/test_loading.py), behind the file's name; a
    remedy in the command's own terms (--unsafe, --import)."""
    code, sections, err = inspected
    assert code == 3 and len(sections) == 4
    lines = err.strip().splitlines()
    assert all(one_line(line) for line in lines)
    missing, lambda_error, custom_error, pipe_error, garbage_error = lines
    assert missing == "keras-convert: error: 'missing.keras' does not exist"
    assert lambda_error == (
        "keras-convert: error: cannot load 'lambda.keras': layer 'double' (Lambda) holds "
        "Python code, which safe mode does not load; if you trust this file, pass --unsafe"
    )
    assert custom_error == (
        "keras-convert: error: cannot load 'twice.keras': class 'cli_test>Twice' (a subclassed "
        "model) is not registered; pass --import MODULE, a module that registers it"
    )
    assert pipe_error == (
        "keras-convert: error: cannot load 'pipe.keras': it is not a regular file but a FIFO "
        "(named pipe)"
    )
    assert garbage_error == (
        "keras-convert: error: cannot load 'not_a_model.keras': it is not a zip file, so not "
        "a .keras file"
    )


def test_import_and_unsafe_load_what_the_user_trusts(files):
    code, out, err = run(
        "inspect",
        "twice.keras",
        "lambda.keras",
        "--import",
        "modules/custom_models.py",
        "--unsafe",
        cwd=files,
    )
    assert code == 0 and err == ""
    twice, lam = out.split("\n\n")
    assert "api:         subclassed (Twice, model 'twice')" in twice
    assert "keras_convert.to_functional traces call() into one where it can" in twice
    assert "api:         Sequential (model 'lam')" in lam


def test_convert_a_legacy_h5_file_over_an_existing_output_only_with_force(files):
    """Without --force the existing file is kept; with it, an equivalent file replaces it."""
    target = files / "legacy.keras"
    target.write_text("keep me", encoding="utf-8")
    code, _, err = run(
        "convert", "legacy.h5", "--to", "functional", "-o", "legacy.keras", cwd=files
    )
    assert code == 4 and "pass --force" in one_line(err)
    assert target.read_text(encoding="utf-8") == "keep me"
    code, out, err = run(
        "convert", "legacy.h5", "--to", "functional", "-o", "legacy.keras", "--force", cwd=files
    )
    assert code == 0 and err == ""
    assert out.startswith("wrote legacy.keras: Functional model 'legacy'")
    assert "equivalent to legacy.h5 (checked before and after saving)" in out
    original = keras.saving.load_model(files / "legacy.h5")
    converted = keras.saving.load_model(files / "legacy.keras")
    assert not isinstance(converted, keras.Sequential)
    x = sample_input(original)
    np.testing.assert_array_equal(original.predict(x, verbose=0), converted.predict(x, verbose=0))


def test_a_branched_model_fails_in_one_line_then_converts_with_the_flag(files, monkeypatch, capsys):
    """The failure as a process prints it; the conversion with the flag in process."""
    code, _, err = run(
        "convert", "residual.keras", "--to", "sequential", "-o", "r.keras", cwd=files
    )
    line = one_line(err)
    assert code == 1
    assert "NotSequentialError: the output of layer 'a' feeds 2 layers" in line
    assert "--group-branches" in line
    assert not (files / "r.keras").exists()
    monkeypatch.chdir(files)
    arguments = ["convert", "residual.keras", "--to", "sequential", "--group-branches"]
    assert cli.main([*arguments, "-o", "r.keras"]) == 0
    assert "Sequential model 'residual'" in capsys.readouterr().out
    assert [layer.name for layer in keras.saving.load_model(files / "r.keras").layers] == [
        "a",
        "block_b_to_add",
        "head",
    ]


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["inspect", "missing.keras"], 3, "'missing.keras' does not exist"),
        (["inspect", "modules/custom_models.py"], 3, "it is not a .keras or .h5 file"),
        (["inspect", "exported"], 3, "it is a TensorFlow SavedModel, which Keras 3 loads only"),
        (
            ["convert", "mlp.keras", "--to", "functional", "-o", "no/such/folder/x.keras"],
            4,
            "the folder 'no/such/folder' does not exist",
        ),
        (["convert", "mlp.keras", "--to", "functional", "-o", "x.h5"], 4, "must be a .keras"),
    ],
    ids=[
        "missing",
        "not-a-model-file",
        "savedmodel",
        "no-output-folder",
        "output-suffix",
    ],
)
def test_each_error_is_one_line_with_its_exit_code(files, arguments, code, message):
    before = set(files.iterdir())
    returned, out, err = run(*arguments, cwd=files)
    assert returned == code and out == ""
    assert message in one_line(err)
    assert set(files.iterdir()) == before  # nothing written, nothing left behind


def test_usage_errors_exit_with_code_2(files):
    code, _, err = run(
        "convert",
        "residual.keras",
        "--to",
        "functional",
        "--group-branches",
        "-o",
        "y.keras",
        cwd=files,
    )
    assert code == 2 and "--group-branches applies to --to sequential only" in err


def test_a_failed_check_after_saving_leaves_no_partial_file(files, monkeypatch):
    """In process: make the reload check fail; neither the output nor a temporary remains."""
    checks = []

    def fails_on_reload(a, b, *args, **kwargs):
        checks.append(b.name)
        if len(checks) == 2:
            raise NotEquivalentError("differs after reloading")

    monkeypatch.setattr("keras_convert.assert_equivalent", fails_on_reload)
    before = set(files.iterdir())
    with pytest.raises(cli.CommandError, match="does not reload exactly") as error:
        cli.convert_file(files / "mlp.keras", files / "out.keras", to="functional")
    assert error.value.code == 1 and len(checks) == 2
    assert set(files.iterdir()) == before


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("keras-convert")
    assert script.exists()
    completed = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert completed.returncode == 0 and "exit codes:" in completed.stdout


def test_the_api_page_lists_the_same_exit_codes():
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    for number, meaning in cli.EXIT_CODES.items():
        assert f"| {number} | {meaning} |" in page
