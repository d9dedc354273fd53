"""Build the book for the site tests (a helper module, not a test module)."""

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

from tests import ROOT


def toc_files(entries):
    """Every `file:` in a jb-book TOC's entries, depth first, in reading order."""
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        for key in ("chapters", "sections", "parts"):
            yield from toc_files(entry.get(key, []))


def _toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"], *toc_files(toc["parts"])]


TOC_PAGES = _toc_pages()
CHAPTERS = [page for page in TOC_PAGES if page.startswith("notebooks/")]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPO_PATH = urlparse(CONFIG["repository"]["url"]).path.strip("/")
BRANCH = CONFIG["repository"]["branch"]


def build_site(out: Path) -> Path:
    """Build the book strictly (-W -n) into `out`; return the html folder."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "_build" / "html"
