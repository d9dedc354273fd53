"""The website as a reader meets it: headless Chromium (Playwright) over the built site.

Skips with a reason where Chromium is missing, except in CI (CI=true), where it must run.
Screenshots of the landing page and of a chapter go to test-artifacts/ for a person to look at.
"""

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.sitebuild import CHAPTERS, REPO_PATH, ROOT, TOC_PAGES

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
# Chromium must not try to reach Google's services from a machine without internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the browser tests, but {CHROMIUM} is missing")
    pytest.skip(
        f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM=path)",
        allow_module_level=True,
    )

from playwright.sync_api import sync_playwright  # noqa: E402  (only once Chromium is known)


class Server:
    """Serve a folder on 127.0.0.1 on a free port, in a thread."""

    def __init__(self, folder: Path):
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def inspect(browser, base_url, page_path):
    """Load one page; return (problems, facts) where problems is a list of readable strings."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.url} answered {response.status}")
            if response.status >= 400
            else None
        ),
    )
    url = urljoin(base_url, f"{page_path}.html")
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        problems.append(f"{url} answered {response and response.status}")
    images = page.eval_on_selector_all(
        "article img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])"
    )
    problems += [f"image {src} does not render" for src, width in images if not width]
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    facts = {
        "images": len(images),
        "links": links,
        "sidebar": page.eval_on_selector_all(
            "nav.bd-docs-nav a.reference.internal", "els => els.map(e => e.textContent.trim())"
        ),
        "page": page,
    }
    return problems, facts


def broken_internal_links(browser, base_url, links):
    """Every same-site link answers 200 and its #anchor exists on the target page."""
    problems = []
    request = browser.new_context().request
    ids_by_page = {}
    for link in sorted(set(links)):
        if not link.startswith(base_url):
            continue
        target, _, anchor = link.partition("#")
        if target not in ids_by_page:
            response = request.get(target)
            if response.status != 200:
                problems.append(f"{link} answered {response.status}")
                ids_by_page[target] = None
                continue
            body = response.text() if target.endswith((".html", "/")) else ""
            ids_by_page[target] = body
        body = ids_by_page[target]
        if anchor and body is not None and f'id="{anchor}"' not in body:
            problems.append(f"{link}: no element with id {anchor!r}")
    return problems


@pytest.fixture(scope="module")
def visited(site, browser):
    """Visit every page in the TOC once; keep problems and facts per page."""
    server = Server(site)
    results = {page: inspect(browser, server.url, page) for page in TOC_PAGES}
    yield server.url, results
    for _, facts in results.values():
        facts["page"].close()
    server.close()


@pytest.mark.parametrize("page_path", TOC_PAGES)
def test_page_loads_without_errors_and_images_render(visited, page_path):
    problems, _ = visited[1][page_path]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_chapter_shows_figures(visited, page_path):
    assert visited[1][page_path][1]["images"] > 0


def test_internal_links_and_anchors_resolve(visited, browser):
    base_url, results = visited
    links = [link for _, facts in results.values() for link in facts["links"]]
    assert broken_internal_links(browser, base_url, links) == []


def test_sidebar_lists_every_chapter_in_order(visited):
    results = visited[1]
    sidebar = results[TOC_PAGES[0]][1]["sidebar"]
    titles = [chapter_title(page) for page in CHAPTERS]
    positions = [sidebar.index(title) for title in titles]
    assert positions == sorted(positions)


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_launch_buttons_point_at_this_notebook(visited, page_path):
    links = visited[1][page_path][1]["links"]
    notebook = f"{page_path}.ipynb"
    assert any(
        link.startswith(f"https://mybinder.org/v2/gh/{REPO_PATH}/")
        and link.endswith(f"urlpath=lab/tree/{notebook}")
        for link in links
    ), "Binder"
    assert any(
        link.startswith(f"https://colab.research.google.com/github/{REPO_PATH}/blob/")
        and link.endswith(notebook)
        for link in links
    ), "Colab"


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_download_link_serves_the_notebook(visited, browser, page_path):
    base_url, results = visited
    sources = [link for link in results[page_path][1]["links"] if link.endswith(".ipynb")]
    local = [link for link in sources if link.startswith(base_url)]
    assert local, "no download link"
    notebook = json.loads(browser.new_context().request.get(local[0]).text())
    assert notebook["cells"][0]["source"][0].startswith("# ")


def test_search_finds_the_error_messages_page_by_a_pasted_error_message(visited):
    base_url, results = visited
    page = results[TOC_PAGES[0]][1]["page"]
    # A reader pastes the start of a Keras error they met; the reference page has an entry.
    page.goto(urljoin(base_url, "search.html?q=has+never+been+called+and+thus+has+no+defined"))
    page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
    hits = page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(e => e.getAttribute('href'))"
    )
    assert any("book/errors" in hit for hit in hits), hits


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_no_code_cell_scrolls_sideways_at_1280_pixels(visited, page_path):
    """The code column shows about 77 characters; the notebooks are formatted to fit."""
    page = visited[1][page_path][1]["page"]
    assert page.viewport_size["width"] == 1280
    wide = page.eval_on_selector_all(
        "div.cell_input pre",
        """els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(
            e => e.textContent.split('\\n').reduce((a, b) => (a.length >= b.length ? a : b))
        )""",
    )
    assert wide == [], f"{len(wide)} code cells scroll sideways; longest lines: {wide[:3]}"


def test_a_tensorflow_only_cell_is_marked_on_the_page(visited):
    """Cells tagged tensorflow-only (skipped on JAX and PyTorch) carry a visible label."""
    page = visited[1][CHAPTERS[0]][1]["page"]
    label = page.evaluate(
        """() => {
            const cell = document.querySelector('div.cell');
            cell.classList.add('tag_tensorflow-only');
            const text = getComputedStyle(cell, '::before').content;
            cell.classList.remove('tag_tensorflow-only');
            return text;
        }"""
    )
    assert label == '"TensorFlow only"'


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_accessibility_violation(site, browser, axe, scheme):
    """axe-core over every page of the book, in the theme's light and dark mode."""
    server = Server(site)
    found = []
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        for page_path in TOC_PAGES:
            page.goto(urljoin(server.url, f"{page_path}.html"), wait_until="load")
            assert page.evaluate("document.documentElement.dataset.theme") == scheme
            violations = axe.run(page).response["violations"]
            found += [
                f"{page_path}: {v['id']} ({v['impact']}, {len(v['nodes'])} elements): "
                f"{v['nodes'][0]['target']}"
                for v in violations
                if v["impact"] in ("serious", "critical")
            ]
        page.close()
    finally:
        server.close()
    assert found == [], "\n".join(found)


def test_screenshots_for_a_person_to_look_at(visited):
    base_url, results = visited
    ARTIFACTS.mkdir(exist_ok=True)
    for page_path, name in [(TOC_PAGES[0], "landing"), (CHAPTERS[0], "chapter")]:
        page = results[page_path][1]["page"]
        page.goto(urljoin(base_url, f"{page_path}.html"))
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 10_000


def test_the_checks_catch_a_broken_site(site, browser, tmp_path):
    """A copy of the site with a missing figure and a dead link must be reported."""
    broken = tmp_path / "html"
    shutil.copytree(site, broken)
    chapter = broken / f"{CHAPTERS[0]}.html"
    html = chapter.read_text(encoding="utf-8")
    figure = next(p for p in (broken / "_images").iterdir() if p.name in html)
    figure.unlink()
    chapter.write_text(
        html.replace("</article>", '<a href="missing.html#nowhere">dead</a></article>', 1),
        encoding="utf-8",
    )
    server = Server(broken)
    try:
        problems, facts = inspect(browser, server.url, CHAPTERS[0])
        dead = broken_internal_links(browser, server.url, facts["links"])
        facts["page"].close()
    finally:
        server.close()
    assert any(figure.name in problem for problem in problems), problems
    assert any("missing.html" in problem for problem in dead), dead


def chapter_title(page_path):
    notebook = json.loads((ROOT / f"{page_path}.ipynb").read_text(encoding="utf-8"))
    title = notebook["cells"][0]["source"][0].removeprefix("# ").strip()
    return title.replace("`", "")  # the sidebar shows inline code without its backticks
