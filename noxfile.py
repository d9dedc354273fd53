"""The compatibility matrix: keras_convert's tests on every Keras it claims, on each backend.

`make compat` runs every session, then `tools/compat_report.py` turns their results into the
table of the book's "Versions and backends" page (book/versions/matrix.md). Each session is a
fresh virtualenv made by uv (packages from PyPI, hard-linked from uv's cache) with one Keras
and one backend, and runs the library's tests, not the book's.

    nox -l                                   # the rows
    nox -s "tensorflow(keras='3.10')"        # one row
    nox -t corners                           # what CI runs: the floor row

The JAX and PyTorch rows run in the virtualenvs that `make nbval-jax` and `make nbval-torch`
use (requirements-jax.txt, requirements-torch.txt: the pinned Keras, no TensorFlow), made
by make with pip, which finds PyTorch's CPU build where uv would fetch its CUDA one.
"""

import json
import runpy
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nox

# The supported Keras minors, read by path: importing keras_convert would import Keras.
# pyproject.toml declares exactly `keras>=FLOOR`; tests/test_versions.py checks both.
_VERSIONS = runpy.run_path(str(Path(__file__).parent / "src" / "keras_convert" / "_versions.py"))
KERAS_MINORS, FLOOR, LATEST = _VERSIONS["KERAS_MINORS"], _VERSIONS["FLOOR"], _VERSIONS["LATEST"]
LIBRARY_TESTS = [
    "tests/test_applications.py",
    "tests/test_cli.py",
    "tests/test_cli_faults.py",
    "tests/test_conversion.py",
    "tests/test_copy_contract.py",
    "tests/test_errors.py",
    "tests/test_export.py",
    "tests/test_extract.py",
    "tests/test_graph.py",
    "tests/test_hostile_files.py",
    "tests/test_keras2_files.py",
    "tests/test_keras2_zoo.py",
    "tests/test_keras_api.py",
    "tests/test_keras_hub.py",
    "tests/test_loading.py",
    "tests/test_properties.py",
    "tests/test_subclassed.py",
    "tests/test_surgery.py",
    "tests/test_verification.py",
]
# What does not depend on the backend: the command line's arguments, files and signals, the
# bytes of damaged and hostile files, the door's audit of the library's source, the error
# classes. The TensorFlow rows run these; the JAX and PyTorch rows leave them out (CI's time).
BACKEND_INDEPENDENT = {
    "tests/test_cli.py",
    "tests/test_cli_faults.py",
    "tests/test_errors.py",
    "tests/test_hostile_files.py",
    "tests/test_keras_api.py",
}
TEST_TOOLS = ["pytest", "pytest-xdist", "hypothesis"]
RESULTS = Path(".nox") / "compat"

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True


def run_library_tests(
    session: nox.Session, row: str, backend: str, python: str = "python", tests=LIBRARY_TESTS
) -> None:
    """Run the library's `tests` with `python` (two workers), record the outcome."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = RESULTS / f"{row}.xml"
    env = {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        session.run(
            python,
            "-m",
            "pytest",
            "-q",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *tests,
            env=env,
            external=True,
        )
    finally:
        output = session.run(python, "-c", VERSIONS, env=env, silent=True, log=False, external=True)
        versions = output.strip().splitlines()[-1]
        record = {"row": row, "backend": backend, **json.loads(versions), **counts(report)}
        (RESULTS / f"{row}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


VERSIONS = """
import importlib.metadata as m, json, platform
import keras
backend = keras.backend.backend()
package = {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}[backend]
try:
    backend_version = m.version(package)
except m.PackageNotFoundError:
    backend_version = m.version(backend)
print(json.dumps({"keras": keras.__version__, "backend_version": backend_version,
                  "python": platform.python_version()}))
"""


def counts(report: Path) -> dict[str, int]:
    """Passed, failed (errors included) and skipped tests in a JUnit XML report."""
    if not report.exists():
        return {"passed": 0, "failed": 0, "skipped": 0}
    suite = ElementTree.parse(report).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    total, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


@nox.session(tags=["matrix"])
@nox.parametrize(
    "keras",
    [nox.param(minor, tags=["corners"] if minor == FLOOR else []) for minor in KERAS_MINORS],
)
def tensorflow(session: nox.Session, keras: str) -> None:
    """One Keras minor (its latest patch) on TensorFlow: the newest TensorFlow that installs
    beside it (TensorFlow constrains Keras: 2.21 requires Keras 3.12 or newer)."""
    session.install(f"keras=={keras}.*", "tensorflow-cpu>=2.16", "numpy", *TEST_TOOLS)
    session.install("--no-deps", "-e", ".")
    run_library_tests(session, f"tensorflow-keras-{keras}", "tensorflow")


# `make compat` runs these rows; CI, within its 20 minutes, runs the floor row, and the library
# on JAX through the whole book (`make nbval-jax`).
@nox.session(venv_backend="none", tags=["matrix"])
@nox.parametrize("backend", ["jax", "torch"])
def backends(session: nox.Session, backend: str) -> None:
    """The pinned Keras on JAX or PyTorch (CPU), without TensorFlow."""
    session.run("make", "--no-print-directory", f".venv-{backend}/.installed", external=True)
    python = f".venv-{backend}/bin/python"
    tests = [test for test in LIBRARY_TESTS if test not in BACKEND_INDEPENDENT]
    run_library_tests(session, f"{backend}-keras-{LATEST}", backend, python=python, tests=tests)
