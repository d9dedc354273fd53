"""The book's structure: what strict nbval and the strict build silently rely on."""

import itertools
import json
import re
from pathlib import Path

import pytest
import yaml

from tests import ROOT
from tests.sitebuild import toc_files
from tools import nbval_backends

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NBVAL_MARKER = re.compile(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP|RAISES_EXCEPTION|CHECK_OUTPUT)\b(.*)")
NBVAL_TAGS = {"nbval-ignore-output", "nbval-skip"}


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(notebook):
    return [
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and "".join(cell["source"]).strip()
    ]


def output_text(cell):
    """Everything a code cell printed or displayed as text, errors included."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.append("".join(output.get("data", {}).get("text/plain", "")))
        parts.append(output.get("evalue", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def toc():
    return yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb files"


def test_every_notebook_is_in_the_toc_and_vice_versa(toc):
    listed = [toc["root"], *toc_files(toc.get("parts", []))]
    listed_notebooks = {f for f in listed if f.startswith("notebooks/")}
    on_disk = {p.relative_to(ROOT).with_suffix("").as_posix() for p in NOTEBOOKS}
    assert on_disk - listed_notebooks == set(), "notebooks missing from _toc.yml"
    assert listed_notebooks - on_disk == set(), "_toc.yml lists notebooks that do not exist"
    for entry in listed:
        assert any((ROOT / entry).with_suffix(s).exists() for s in (".md", ".ipynb")), entry
    assert len(listed) == len(set(listed)), "a page is listed twice in _toc.yml"


def test_chapters_are_numbered_in_reading_order(toc):
    chapters = [f for f in toc_files(toc.get("parts", [])) if f.startswith("notebooks/")]
    numbers = [int(Path(f).name.split("_")[0]) for f in chapters]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_numbered_title(path):
    first = load(path)["cells"][0]
    assert first["cell_type"] == "markdown"
    number = int(path.name.split("_")[0])
    assert "".join(first["source"]).startswith(f"# {number} · "), "first cell must be '# N · Title'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_was_executed_in_order(path):
    cells = code_cells(load(path))
    counts = [cell["execution_count"] for cell in cells]
    assert None not in counts, "unexecuted code cells: nbval compares nothing for them"
    assert counts == list(range(1, len(counts) + 1)), (
        "restart the kernel and run all (make execute)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_nbval_exclusion_says_why(path):
    for index, cell in enumerate(code_cells(load(path))):
        source = "".join(cell["source"])
        for match in NBVAL_MARKER.finditer(source):
            if match.group(1) in ("IGNORE_OUTPUT", "SKIP"):
                reason = match.group(2).strip(" -:—")
                assert len(reason) > 10, f"code cell {index}: {match.group(0)!r} needs a reason"
        tags = set(cell.get("metadata", {}).get("tags", []))
        assert not tags & NBVAL_TAGS, (
            f"code cell {index}: use a '# NBVAL_…  reason' comment, not a tag, so the reason shows"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_error_cells_are_tagged_and_only_they_fail(path):
    for index, cell in enumerate(code_cells(load(path))):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        tagged = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        assert bool(errors) == tagged, f"code cell {index}: error output and tag must match"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_have_no_progress_bars_or_addresses(path):
    for index, cell in enumerate(code_cells(load(path))):
        text = output_text(cell)
        assert not re.search(r"\d+/\d+ \S*━", text), f"code cell {index}: a progress bar"
        assert not re.search(r"\d+m?s/step", text), f"code cell {index}: a timing"
        assert " at 0x" not in text, f"code cell {index}: a memory address"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_what_a_cell_prints_is_stored_as_one_output_per_stream(path):
    """`make execute` joins the pieces the kernel happened to flush separately (no noisy diffs)."""
    for index, cell in enumerate(code_cells(load(path))):
        streams = [o.get("name") if o["output_type"] == "stream" else None for o in cell["outputs"]]
        assert all(a is None or a != b for a, b in itertools.pairwise(streams)), (
            f"code cell {index}"
        )


def test_all_notebooks_use_the_same_kernel():
    kernels = {json.dumps(load(p)["metadata"]["kernelspec"], sort_keys=True) for p in NOTEBOOKS}
    assert len(kernels) == 1, kernels


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_quiets_tensorflow_before_importing_it(path):
    cell = code_cells(load(path))[0]
    source = "".join(cell["source"])
    assert "## Setup" in "".join(load(path)["cells"][1]["source"])
    quiet = source.index('os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")')
    assert quiet < source.index("import keras")
    assert "keras.utils.set_random_seed(" in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_short_and_collapsed_on_the_site(path):
    cell = code_cells(load(path))[0]
    lines = [line for line in "".join(cell["source"]).splitlines() if line.strip()]
    assert len(lines) <= 18, f"the setup cell has {len(lines)} lines"
    assert "hide-input" in cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_trained_values_are_printed_only_by_cells_that_assert_their_bound(path):
    """nbval_sanitize.cfg masks the digits after ≈; the cell must assert what they support."""
    for index, cell in enumerate(code_cells(load(path))):
        if "≈" in output_text(cell):
            assert re.search(r"^\s*assert |np\.testing\.assert_", "".join(cell["source"]), re.M), (
                f"code cell {index} prints a ≈ value but asserts nothing"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_has_takeaways_and_hidden_asserted_exercises(path):
    notebook = load(path)
    headings = [
        line
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
        if line.startswith("## ")
    ]
    assert "## Key takeaways" in headings and "## Exercises" in headings
    solutions = [
        cell
        for cell in notebook["cells"]
        if "hide-cell" in cell.get("metadata", {}).get("tags", [])
    ]
    assert len(solutions) >= 2, "at least two exercises with hidden solutions"
    for cell in solutions:
        body = "".join(cell["source"])
        assert "assert" in body, "every solution ends in an assertion"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_stays_under_80_cells_and_77_columns(path):
    notebook = load(path)
    assert len(notebook["cells"]) <= 80, "split the chapter in two"
    wide = [
        line
        for cell in code_cells(notebook)
        for line in "".join(cell["source"]).splitlines()
        if len(line) > 77
    ]
    assert wide == [], "the page shows about 77 characters of a code line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tensorflow_only_content_says_so(path):
    """What is skipped on JAX and PyTorch is marked: a whole chapter in its first cell, a
    tagged cell by the markdown just before it."""
    notebook = load(path)
    if notebook["metadata"].get("tensorflow_only"):
        assert "runs on TensorFlow only" in "".join(notebook["cells"][0]["source"])
    cells = notebook["cells"]
    for index, cell in enumerate(cells):
        if "tensorflow-only" in cell.get("metadata", {}).get("tags", []):
            before = "".join(cells[index - 1]["source"])
            assert "TensorFlow" in before, f"cell {index}: say why it is TensorFlow-only"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_tensorflow_only_cell_is_skipped_by_its_chapters_setup_on_other_backends(path):
    """Each tagged cell begins with the marker that the cell after the setup skips on JAX and
    PyTorch (an IPython input transformer; nbval checks there that the cell printed the skip
    line), so a reader's Run All goes past it. Every such chapter has the same cell."""
    notebook = load(path)
    cells = code_cells(notebook)
    tagged = [c for c in cells if "tensorflow-only" in c["metadata"].get("tags", [])]
    if not tagged or notebook["metadata"].get("tensorflow_only"):
        return
    for cell in tagged:
        first = "".join(cell["source"]).splitlines()[0]
        assert first.startswith(nbval_backends.MARKER + ": "), first
    skipper = cells[1]
    reference = code_cells(load(ROOT / "notebooks" / "12_legacy_models.ipynb"))[1]
    assert skipper["source"] == reference["source"]
    assert skipper["metadata"].get("tags") == ["hide-input"] and not skipper["outputs"]
    source = "".join(skipper["source"])
    assert f'startswith("{nbval_backends.MARKER}")' in source
    assert "input_transformers_post.append(skip_tensorflow_only)" in source


def test_at_most_a_tenth_of_the_backend_neutral_chapters_is_tensorflow_only():
    cells = [
        cell
        for path in NOTEBOOKS
        if not load(path)["metadata"].get("tensorflow_only")
        for cell in code_cells(load(path))
    ]
    tagged = [c for c in cells if "tensorflow-only" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) * 10 <= len(cells)
