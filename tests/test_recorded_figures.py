"""The figures the book quotes from its last notebook recording are that recording's.

`make bench ONLY=notebooks` writes book/performance/notebooks.json; the Performance page and
the chapters that explain their time on JAX quote it in their prose. Each quote below is
rendered from the recording and must appear in its page (runs of whitespace are one space),
so a new recording fails here until the prose says its figures.
"""

import functools
import json

import nbformat
import pytest

from tests import ROOT

RECORDING = json.loads(
    (ROOT / "book" / "performance" / "notebooks.json").read_text(encoding="utf-8")
)


def run(chapter: int, backend: str) -> dict:
    (row,) = [
        row
        for row in RECORDING["rows"]
        if row["notebook"].startswith(f"{chapter:02d}_") and row["backend"] == backend
    ]
    return row


def cell(chapter: int, backend: str, index: int) -> dict:
    """One cell of a run: its wall and CPU seconds and, on JAX, its compilations."""
    (found,) = [c for c in run(chapter, backend)["cells"] if c[0] == index]
    return dict(zip(("index", "seconds", "cpu_seconds", "compiles"), found, strict=True))


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def took(chapter: int, backend: str) -> str:
    return seconds(run(chapter, backend)["seconds"])


def times(chapter: int) -> str:
    """The chapter's time on JAX over its time on TensorFlow."""
    return f"{run(chapter, 'jax')['ratio']:.1f} times"


def gigabytes(chapter: int, backend: str) -> str:
    return f"{run(chapter, backend)['peak_mb'] / 1000:.1f} GB"


def cells_except(chapter: int, backend: str, index: int) -> float:
    return sum(c[1] for c in run(chapter, backend)["cells"] if c[0] != index)


def cpu_of(chapter: int, backend: str, indices: tuple[int, ...]) -> str:
    return seconds(sum(cell(chapter, backend, i)["cpu_seconds"] for i in indices))


def most(backend: str, key: str) -> float:
    return max(row[key] for row in RECORDING["rows"] if row["backend"] == backend)


def chapter_took(chapter: int) -> str:
    return (
        f"The chapter took {took(chapter, 'jax')} on JAX, against "
        f"{took(chapter, 'tensorflow')} on TensorFlow and {took(chapter, 'torch')} on PyTorch"
    )


CH11_PROOFS = (14, 20, 39, 44)  # the cells that check the five architectures' conversions
# Chapter 11's cells but the one that builds the five architectures (cell 4).
CH11_REST_JAX = cells_except(11, "jax", 4)
CH11_REST_TENSORFLOW = cells_except(11, "tensorflow", 4)

QUOTES = {
    "book/performance.md": [
        f"at most {seconds(most('tensorflow', 'seconds'))} and "
        f"{seconds(most('torch', 'seconds'))}, "
        f"{most('tensorflow', 'peak_mb'):.0f} MB and {most('torch', 'peak_mb'):.0f} MB",
        *(f"take {times(chapter)} TensorFlow's time" for chapter in (5, 6, 8)),
        f"({took(5, 'jax')}, {took(6, 'jax')} and {took(8, 'jax')})",
        f"Chapter 11 does not fit: {took(11, 'jax')}, {times(11)} TensorFlow's time, "
        f"and a peak of {gigabytes(11, 'jax')}",
        f"against {RECORDING['keras_import_seconds']['tensorflow']:.1f} s in this one",
        f"(Chapter 11: {cell(11, 'jax', 4)['compiles']} compilations in one cell",
        f"(Chapter 6: {cell(6, 'jax', 55)['compiles']} compilations in one cell)",
        f"Compiling took {seconds(run(11, 'jax')['compile_seconds'])} of its "
        f"{took(11, 'jax')}, in {run(11, 'jax')['compiles']} compilations",
        f"The building cell is the largest part ({seconds(cell(11, 'jax', 4)['seconds'])})",
        f"other cells took {seconds(CH11_REST_JAX)} on JAX against "
        f"{seconds(CH11_REST_TENSORFLOW)} on TensorFlow, "
        f"{CH11_REST_JAX / CH11_REST_TENSORFLOW:.1f} times",
    ],
    "notebooks/05_functional_to_sequential.ipynb": [
        f"({cell(5, 'jax', 66)['compiles']} compilations)",
        chapter_took(5),
    ],
    "notebooks/06_nested_models.ipynb": [
        f"({cell(6, 'jax', 55)['compiles']} compilations, "
        f"{seconds(cell(6, 'jax', 55)['seconds'])})",
        chapter_took(6),
    ],
    "notebooks/08_training_parity.ipynb": [
        f"the chapter took {took(8, 'jax')} on JAX, {run(8, 'jax')['compiles']} compilations, "
        f"against {took(8, 'tensorflow')} on TensorFlow and {took(8, 'torch')} on PyTorch",
    ],
    "notebooks/11_real_architectures.ipynb": [
        f"the next cell took {seconds(cell(11, 'jax', 4)['seconds'])} on JAX, with "
        f"{cell(11, 'jax', 4)['compiles']} compilations, against "
        f"{seconds(cell(11, 'tensorflow', 4)['seconds'])} on TensorFlow and "
        f"{seconds(cell(11, 'torch', 4)['seconds'])} on PyTorch",
        f"the whole chapter took {took(11, 'jax')} on JAX, {times(11)} TensorFlow's "
        f"{took(11, 'tensorflow')}, with a peak of {gigabytes(11, 'jax')} of memory against "
        f"{gigabytes(11, 'tensorflow')}",
        f"took {cpu_of(11, 'jax', CH11_PROOFS)} of CPU time on JAX against "
        f"{cpu_of(11, 'tensorflow', CH11_PROOFS)} on TensorFlow",
    ],
}


@functools.cache
def prose(path: str) -> str:
    """The page's text, or a notebook's markdown, with each run of whitespace one space."""
    if path.endswith(".ipynb"):
        notebook = nbformat.read(ROOT / path, as_version=4)
        text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    else:
        text = (ROOT / path).read_text(encoding="utf-8")
    return " ".join(text.split())


def test_the_recording_has_every_chapter_on_every_backend_it_runs_on():
    assert RECORDING["backends"] == ["tensorflow", "jax", "torch"]
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted({row["notebook"] for row in RECORDING["rows"]}) == notebooks


@pytest.mark.parametrize(
    ("path", "quote"),
    [(path, quote) for path, quotes in QUOTES.items() for quote in quotes],
    ids=lambda value: value if value.endswith(("md", "ipynb")) else value[:40],
)
def test_the_page_quotes_the_recording(path, quote):
    assert quote in prose(path)
