"""The compatibility matrix: keras_convert's tests on every Keras it claims, on each backend.

`make compat` runs every session, then `tools/compat_report.py` turns their results into the
table of the book's "Versions and backends" page (book/versions/matrix.md). Each session is a
fresh virtualenv made by uv (packages from PyPI, hard-linked from uv's cache) with one Keras
and one backend, and runs the library's tests, not the book's.

    nox -l                                   # the rows
    nox -s "tensorflow(keras='3.10')"        # one row
    nox -t corners                           # what CI runs: the floor and the JAX backend
"""

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nox

# The floor is the lowest Keras on which every library test passes; pyproject.toml declares
# exactly `keras>=FLOOR` and a test checks that the two agree.
KERAS_MINORS = ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]
FLOOR, LATEST = KERAS_MINORS[0], KERAS_MINORS[-1]
LIBRARY_TESTS = [
    "tests/test_applications.py",
    "tests/test_cli.py",
    "tests/test_conversion.py",
    "tests/test_errors.py",
    "tests/test_graph.py",
    "tests/test_keras_api.py",
    "tests/test_properties.py",
    "tests/test_surgery.py",
    "tests/test_verification.py",
]
TEST_TOOLS = ["pytest", "hypothesis"]
RESULTS = Path(".nox") / "compat"

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True


def run_library_tests(session: nox.Session, row: str, backend: str) -> None:
    """Install the library without dependencies, run its tests, record the outcome."""
    session.install("--no-deps", "-e", ".")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = RESULTS / f"{row}.xml"
    env = {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        session.run(
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *LIBRARY_TESTS,
            env=env,
        )
    finally:
        output = session.run("python", "-c", VERSIONS, env=env, silent=True, log=False)
        versions = output.strip().splitlines()[-1]
        record = {"row": row, "backend": backend, **json.loads(versions), **counts(report)}
        (RESULTS / f"{row}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


VERSIONS = """
import importlib.metadata as m, json, platform
import keras
backend = keras.backend.backend()
package = {"tensorflow": "tensorflow-cpu", "jax": "jax"}[backend]
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
    """One Keras minor (its latest patch) on the TensorFlow backend, the newest TF it allows."""
    session.install(f"keras=={keras}.*", "tensorflow-cpu>=2.16", "numpy", *TEST_TOOLS)
    run_library_tests(session, f"tensorflow-keras-{keras}", "tensorflow")


@nox.session(tags=["matrix", "corners"])
def jax(session: nox.Session) -> None:
    """The latest Keras on the JAX backend (CPU wheels from PyPI), without TensorFlow."""
    session.install(f"keras=={LATEST}.*", "jax[cpu]", "numpy", *TEST_TOOLS)
    run_library_tests(session, f"jax-keras-{LATEST}", "jax")
