"""`keras-convert` under faults, as a careless user or an attacker meets it: in subprocesses,
and in process (`cli.main`) where a process would show nothing more.

Each test is a case the command line once got wrong: an output replaced without --force, a
partial file left by a signal, a traceback instead of one line. (A named pipe that hung
`inspect`, and unreadable files it did not report: tests/test_cli.py.)
"""

import os
import signal
import subprocess
import sys

import keras
import pytest
from keras import layers

from keras_convert import cli, load_model
from tests.helpers import one_line, run

SLOW_SAVE = """
import time

import keras

original_save = keras.Model.save


def save_then_wait(self, filepath, *args, **kwargs):
    original_save(self, filepath, *args, **kwargs)
    print("saved", flush=True)
    time.sleep(120)  # a long write: the test signals the process now


keras.Model.save = save_then_wait
"""

ELSEWHERE_WRITES_THE_OUTPUT = """
from pathlib import Path

import keras

original_save = keras.Model.save


def save_while_someone_writes_the_output(self, filepath, *args, **kwargs):
    original_save(self, filepath, *args, **kwargs)
    # After every check that out.keras does not exist, before the command puts it in place.
    Path("out.keras").write_text("written by someone else", encoding="utf-8")


keras.Model.save = save_while_someone_writes_the_output
"""

BROKEN_CONVERSION = """
import keras_convert.conversion


def broken(*args, **kwargs):
    raise RuntimeError("an unforeseen failure")


keras_convert.conversion.to_functional = broken
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A model file and the modules the tests import into the command."""
    folder = tmp_path_factory.mktemp("faults")
    keras.utils.set_random_seed(0)
    keras.Sequential(
        [keras.Input((4,), name="features"), layers.Dense(2, name="head")], name="mlp"
    ).save(folder / "mlp.keras")
    for name, text in [
        ("slow_save.py", SLOW_SAVE),
        ("elsewhere.py", ELSEWHERE_WRITES_THE_OUTPUT),
        ("broken.py", BROKEN_CONVERSION),
    ]:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def as_in_a_terminal():
    """Ctrl-C reaches the command as it does in a terminal, even when the tests themselves
    run in the background, where the shell starts every process with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def leftovers(folder):
    """Files a conversion may have left behind: its hidden temporary files."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".keras-convert-"))


def test_a_file_that_appears_while_converting_is_kept(folder):
    code, out, err = run(
        "convert", "mlp.keras", "--to", "functional", "-o", "out.keras",
        "--import", "elsewhere.py", cwd=folder,
    )  # fmt: skip
    assert code == 4 and out == ""
    assert "'out.keras' appeared while converting; it is kept: pass --force" in one_line(err)
    assert (folder / "out.keras").read_text(encoding="utf-8") == "written by someone else"
    assert leftovers(folder) == []
    (folder / "out.keras").unlink()


def test_a_dangling_symlink_at_the_output_is_not_replaced_without_force(folder):
    link = folder / "link.keras"
    link.symlink_to(folder / "nowhere.keras")
    code, _, err = run("convert", "mlp.keras", "--to", "functional", "-o", "link.keras", cwd=folder)
    assert code == 4 and "'link.keras' exists; pass --force" in one_line(err)
    assert link.is_symlink() and os.readlink(link) == str(folder / "nowhere.keras")
    link.unlink()


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_during_the_write_leaves_no_file_and_one_line(folder, signum, code, word):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_convert", "convert", "mlp.keras", "--to", "functional",
         "-o", "signalled.keras", "--import", "slow_save.py"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=as_in_a_terminal,
    )  # fmt: skip
    try:
        assert process.stdout.readline().strip() == "saved"  # the temporary file is written
        assert len(leftovers(folder)) == 1
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code
    assert one_line(err) == f"keras-convert: error: {word}; nothing was written"
    assert leftovers(folder) == [] and not (folder / "signalled.keras").exists()


def test_a_legal_long_output_name_works(folder):
    name = "m" * 245 + ".keras"  # 251 characters; the limit is 255
    code, out, err = run("convert", "mlp.keras", "--to", "functional", "-o", name, cwd=folder)
    assert code == 0 and err == "", err
    assert out.startswith(f"wrote {name}: Functional model 'mlp'")
    assert (folder / name).is_file() and leftovers(folder) == []
    (folder / name).unlink()


def test_an_unreadable_file_says_permission_denied(tmp_path):
    """Root reads every file through two capabilities; the command runs without them (still as
    root, so it can reach a checkout in a private folder, as another user could not)."""
    secret = tmp_path / "secret.keras"
    secret.write_bytes(b"PK\x03\x04")
    secret.chmod(0o000)
    command = [sys.executable, "-m", "keras_convert", "inspect", "secret.keras"]
    if os.geteuid() == 0:
        no_override = "--bounding-set=-dac_override,-dac_read_search"
        command = ["setpriv", "--inh-caps=-all", no_override, *command]
    try:
        completed = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    finally:
        secret.chmod(0o600)
    assert completed.returncode == 3
    assert one_line(completed.stderr) == (
        "keras-convert: error: cannot read 'secret.keras': permission denied"
    )


def test_an_unforeseen_failure_is_a_bug_report_with_its_own_exit_code(folder, monkeypatch, capsys):
    """The report as a process prints it; --debug's traceback in process, with the failure
    of broken.py patched in (and out again)."""
    arguments = ("convert", "mlp.keras", "--to", "functional", "-o", "bug.keras")
    code, out, err = run(*arguments, "--import", "broken.py", cwd=folder)
    assert code == 5 and out == ""
    line = one_line(err)
    assert "internal error: RuntimeError: an unforeseen failure" in line
    assert "this is a bug in keras-convert, please report it" in line
    assert "--debug or KERAS_CONVERT_DEBUG=1 shows the traceback" in line

    def broken(*args, **kwargs):
        raise RuntimeError("an unforeseen failure")

    monkeypatch.setattr("keras_convert.conversion.to_functional", broken)
    monkeypatch.chdir(folder)
    assert cli.main([*arguments, "--debug"]) == 5
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise RuntimeError("an' in err
    assert not (folder / "bug.keras").exists() and leftovers(folder) == []


def test_wrong_inputs_are_reported_before_keras_is_imported(folder):
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys; from keras_convert import cli; code = cli.main(['inspect', 'missing.keras']);"
         "print(code, 'keras' in sys.modules)"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.stdout.split() == ["3", "False"]


def test_a_written_file_stays_when_its_report_cannot_be_printed(folder):
    """stdout on a full disk: the converted file is in place, exit code 0, and stderr says
    that only the report was lost."""
    command = [sys.executable, "-m", "keras_convert", "convert", "mlp.keras"]
    with open("/dev/full", "w") as full:
        completed = subprocess.run(
            [*command, "--to", "functional", "-o", "reported.keras"],
            cwd=folder,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert completed.returncode == 0
    assert one_line(completed.stderr) == (
        "keras-convert: wrote 'reported.keras', but could not print the report: no space "
        "left on device"
    )
    assert load_model(folder / "reported.keras").count_params() == 10


def test_a_name_stdout_cannot_encode_is_escaped_in_the_report(folder):
    output = os.fsdecode(b"caf\xe9.keras")  # Latin-1, not UTF-8: a surrogate escape
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    command = [sys.executable, "-m", "keras_convert", "convert", "mlp.keras"]
    completed = subprocess.run(
        [*command, "-o", output, "--to", "functional"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("wrote caf\\udce9.keras: Functional model")
    assert (folder / output).is_file()


def test_a_file_over_the_layer_limit_names_the_flag_that_lifts_it(folder, monkeypatch, capsys):
    """The refusal as a process prints it; the flag lifting the limit in process."""
    code, out, err = run("inspect", "mlp.keras", "--max-layers", "1", cwd=folder)
    assert code == 3 and out == ""
    assert one_line(err) == (
        "keras-convert: error: cannot load 'mlp.keras': its configuration declares more than 1 "
        "layers, more than keras_convert builds by default; if you trust this file, pass "
        "--max-layers N"
    )
    monkeypatch.chdir(folder)
    assert cli.main(["inspect", "mlp.keras", "--max-layers", "2"]) == 0
    assert "api:         Sequential" in capsys.readouterr().out


def test_converting_a_file_in_place_says_what_it_does_not_carry_over(folder):
    (folder / "in_place.keras").write_bytes((folder / "mlp.keras").read_bytes())
    arguments = ("convert", "in_place.keras", "--to", "functional", "--force")
    code, out, err = run(*arguments, "-o", "in_place.keras", cwd=folder)
    assert code == 0 and err == ""
    assert out.splitlines()[1] == (
        "note: the written model is not compiled: compile settings and optimizer state that "
        "in_place.keras may store are not carried over (in_place.keras was replaced); compile "
        "it before training"
    )
