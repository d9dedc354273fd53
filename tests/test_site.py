"""The built website: every page exists, images are real, launch buttons point at the notebook."""

import re
import subprocess
from urllib.parse import unquote

import pytest

from tests.sitebuild import BRANCH, CHAPTERS, CONFIG, REPO_PATH, ROOT, TOC_PAGES

PAGES = TOC_PAGES


def html(site, page):
    return (site / f"{page}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES)
def test_every_toc_page_is_built(site, page):
    assert (site / f"{page}.html").is_file()


@pytest.mark.parametrize("page", CHAPTERS)
def test_launch_buttons_open_this_chapter(site, page):
    text = html(site, page)
    notebook = f"{page}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{REPO_PATH}/{BRANCH}?urlpath=lab/tree/{notebook}"
    colab = f"https://colab.research.google.com/github/{REPO_PATH}/blob/{BRANCH}/{notebook}"
    assert f'href="{binder}"' in text
    assert f'href="{colab}"' in text


@pytest.mark.parametrize("page", CHAPTERS)
def test_download_button_serves_the_notebook(site, page):
    links = re.findall(r'href="([^"]+\.ipynb)"', html(site, page))
    local = [link for link in links if not link.startswith("http")]
    assert local, "no download link to the .ipynb"
    for link in local:
        target = (site / page).parent / unquote(link)
        assert target.is_file() and target.stat().st_size > 0, link


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_images_are_real_pngs(site, page):
    sources = re.findall(r'<img[^>]+src="([^"]+)"', html(site, page))
    figures = [source for source in sources if "_images/" in source]
    assert figures, "a chapter shows at least one figure"
    for source in figures:
        image = ((site / page).parent / unquote(source)).resolve()
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", source
        assert image.stat().st_size > 1000, f"{source} is suspiciously small"


def test_repository_url_lives_in_one_place():
    url = CONFIG["repository"]["url"]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    holders = [
        name
        for name in tracked
        if not name.endswith(".ipynb")  # the Colab install cell names the library's home
        and (ROOT / name).is_file()
        and url in (ROOT / name).read_text(encoding="utf-8", errors="ignore")
    ]
    assert holders == ["_config.yml"]


def test_code_shows_the_repository_url_not_the_placeholder(site):
    assert f"git+{CONFIG['repository']['url']}" in html(site, "book/api")
    for page in PAGES:
        assert "REPOSITORY_URL" not in html(site, page), page
