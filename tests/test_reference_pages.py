"""Every Python block on the book's Markdown pages runs, in order: the reference cannot rot."""

import re
from pathlib import Path

import pytest

from tests import ROOT

BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
PAGES = sorted(p for p in (ROOT / "book").glob("*.md") if BLOCK.search(p.read_text("utf-8")))


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_reference_pages_have_code():
    names = {page.name for page in PAGES}
    assert {"cheat_sheet.md", "decision_guide.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_code_block_runs(page):
    namespace = {"__name__": f"book_{page.stem}"}
    for number, block in enumerate(python_blocks(page), start=1):
        try:
            exec(compile(block, f"{page.name}, block {number}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{page.name}, code block {number} failed: {error!r}\n{block}")


def test_block_extraction_sees_every_fence():
    """A fence the regex missed would silently go untested."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert text.count("```python") == len(python_blocks(page)), page.name
