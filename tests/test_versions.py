"""The Keras range is declared once (keras_convert._versions) and proven: pyproject.toml, the
matrix, the book page."""

import json
import re
import tomllib

import noxfile
from keras_convert import _versions
from tests import ROOT
from tools import compat_report, nbval_backends

PAGE = (ROOT / "book" / "versions.md").read_text(encoding="utf-8")
MATRIX = json.loads((ROOT / "book" / "versions" / "matrix.json").read_text(encoding="utf-8"))


def declared_floor() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (keras,) = [dep for dep in project["dependencies"] if dep.startswith("keras")]
    return re.fullmatch(r"keras>=(\d+\.\d+)", keras).group(1)


def test_the_floor_is_the_lowest_row_of_the_matrix():
    assert declared_floor() == _versions.FLOOR == _versions.KERAS_MINORS[0] == MATRIX["floor"]
    assert f"`keras>={declared_floor()}`" in PAGE


def test_the_matrix_runs_the_supported_minors_in_order():
    assert noxfile.KERAS_MINORS == _versions.KERAS_MINORS
    assert (noxfile.FLOOR, noxfile.LATEST) == (_versions.FLOOR, _versions.LATEST)
    minors = [tuple(map(int, minor.split("."))) for minor in _versions.KERAS_MINORS]
    assert minors == sorted(set(minors))


def test_the_last_run_covers_every_row_and_every_row_passed():
    rows = [record["row"] for record in MATRIX["rows"]]
    assert rows == compat_report.expected_rows()
    for record in MATRIX["rows"]:
        assert record["failed"] == 0 and record["passed"] > 0, record["row"]
        assert record["keras"].startswith(record["row"].rsplit("-", 1)[1] + ".")


def test_the_page_shows_the_table_the_run_wrote():
    assert "```{include} versions/matrix.md" in PAGE
    table = (ROOT / "book" / "versions" / "matrix.md").read_text(encoding="utf-8")
    assert table.startswith(compat_report.table(MATRIX["rows"]) + "\n")


def pinned(lock: str, package: str) -> str:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return re.search(rf"^{package}==(\S+)", text, re.M).group(1)


def test_every_backend_runs_the_book_on_the_same_keras():
    keras = pinned("requirements.txt", "keras")
    assert pinned("requirements-jax.txt", "keras") == keras
    assert pinned("requirements-torch.txt", "keras") == keras


def test_the_page_shows_the_book_run_on_each_backend():
    assert "```{include} versions/book.md" in PAGE
    table = (ROOT / "book" / "versions" / "book.md").read_text(encoding="utf-8")
    assert table.startswith(compat_report.book_table(MATRIX["book"]) + "\n")
    backends = [run["backend"] for run in MATRIX["book"]]
    assert backends == ["tensorflow", "jax", "torch"]
    for run in MATRIX["book"]:
        assert run["failed"] == 0 and run["passed"] > 0, run["backend"]
        assert run["keras"] == pinned("requirements.txt", "keras")


def test_the_page_names_the_tensorflow_only_cells_of_the_keras2_chapters():
    """Each chapter that is TensorFlow-only in part is counted on the page as its tags say,
    and each chapter that is TensorFlow-only as a whole is named as such."""
    prose = " ".join(PAGE.split())
    assert f"prints `{nbval_backends.SKIPPED.strip()}` instead of running" in prose
    whole = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        number = int(path.name.split("_")[0])
        if notebook["metadata"].get("tensorflow_only"):
            whole.append(number)
            continue
        cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        tagged = [c for c in cells if "tensorflow-only" in c["metadata"].get("tags", [])]
        if tagged:
            claim = f"Chapter {number}: {len(tagged)} of {len(cells)} code cells TensorFlow-only"
            assert claim in prose, claim
    if whole:
        *first, last = (str(number) for number in whole)
        named = f"Chapters {', '.join(first)} and {last}" if first else f"Chapter {last}"
        verb = "are" if first else "is"
        assert f"{named} (" in prose and f"{verb} TensorFlow-only as a whole" in prose, named
