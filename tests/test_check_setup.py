"""tools/check_setup.py (CI's and `make compat`'s check of the documented JAX and PyTorch
setups) fails with one line naming the step: its success is CI's own run on `.venv-jax`."""

import subprocess
import sys

from tests import ROOT


def check(venv, backend="jax"):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_setup.py"), str(venv), backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_virtualenv_without_jupyterlab_fails_naming_the_lock(tmp_path):
    (tmp_path / "bin").mkdir()
    done = check(tmp_path)
    assert done.returncode == 1
    assert (
        done.stderr
        == f"error: {tmp_path} has no jupyter-lab: its lock does not install JupyterLab\n"
    )


def test_a_jupyter_lab_that_exits_at_start_fails_with_its_last_log_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "jupyter-lab").touch()
    fake = bin_dir / "jupyter"
    fake.write_text("#!/bin/sh\necho 'starting'\necho 'port already taken' >&2\nexit 1\n")
    fake.chmod(0o755)
    done = check(tmp_path)
    assert done.returncode == 1
    assert done.stderr == "error: `jupyter lab` exited while starting: port already taken\n"
