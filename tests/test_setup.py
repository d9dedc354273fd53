"""The setup commands that the README and the Running page give work with the files as they are.

Offline and cheap: each documented `pip install -r FILE` names a lock that exists and pins
what the command after it runs (`jupyter lab` needs JupyterLab, `KERAS_BACKEND=jax` needs
JAX); the PyTorch command names PyTorch's CPU index, as its torch pin is found only there.
"""

import re

import pytest

from tests import ROOT

DOCS = {
    name: (ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "book/running.md")
}
LOCKS = {
    "tensorflow": "requirements.txt",
    "jax": "requirements-jax.txt",
    "torch": "requirements-torch.txt",
}
BACKEND_PACKAGE = {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def lines(lock: str) -> list[str]:
    return (ROOT / lock).read_text(encoding="utf-8").splitlines()


def pins(lock: str) -> dict[str, str]:
    found = (re.match(r"([A-Za-z0-9._-]+)==(\S+)", line) for line in lines(lock))
    return {match.group(1).lower(): match.group(2) for match in found if match}


def options(lock: str) -> list[str]:
    """The pip options a requirements file carries (lines starting with -, but not -e)."""
    return [line for line in lines(lock) if line.startswith("-") and not line.startswith("-e ")]


@pytest.mark.parametrize("backend", LOCKS)
def test_each_backends_lock_installs_jupyterlab_and_its_backend(backend):
    pinned = pins(LOCKS[backend])
    assert "jupyterlab" in pinned, f"{LOCKS[backend]} installs no JupyterLab"
    assert "jupyter-core" in pinned  # the `jupyter` command itself
    assert BACKEND_PACKAGE[backend] in pinned
    assert "keras" in pinned


@pytest.mark.parametrize("doc", DOCS)
def test_the_documented_torch_command_names_pytorchs_cpu_index(doc):
    assert pins(LOCKS["torch"])["torch"].endswith("+cpu")  # a build only PyTorch's index has
    command = f"pip install -r requirements-torch.txt --extra-index-url {TORCH_INDEX}"
    assert command in DOCS[doc]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"TORCH_INDEX := {TORCH_INDEX}" in makefile  # what `make lock` resolves against


@pytest.mark.parametrize("lock", LOCKS.values())
def test_the_locks_leave_the_readers_index_alone(lock):
    # `--index-url` in a requirements file replaces the index (or mirror) pip is configured
    # with; an `--extra-index-url` that is out of reach costs pip's retries on every package.
    assert options(lock) == []


@pytest.mark.parametrize("doc", DOCS)
def test_the_documented_jax_and_torch_commands_are_what_the_locks_support(doc):
    text = DOCS[doc]
    installs = set(re.findall(r"pip install -r (requirements-\w+\.txt)", text))
    installs |= set(re.findall(r"or `?(requirements-\w+\.txt)", text))
    assert {"requirements-jax.txt", "requirements-torch.txt"} <= installs, doc
    assert all((ROOT / lock).is_file() for lock in installs), doc
    backends = set(re.findall(r"KERAS_BACKEND=(\w+)", text))
    assert {"jax", "torch"} <= backends, doc
    for backend in backends:
        lock = LOCKS[backend]
        assert "jupyterlab" in pins(lock), f"{doc}: `jupyter lab` on {backend}, from {lock}"
