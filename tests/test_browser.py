"""The website as a reader meets it: headless Chromium (Playwright) over the built site.

Skips with a reason where Chromium is missing, except in CI (CI=true), where it must run.
Screenshots of the landing page and of a chapter go to test-artifacts/ for a person to look at.

Every page (the table of contents' and the library's source pages) is also visited at three
widths, a phone (375 px, mobile emulation), a tablet (768 px) and a desktop (1280 px), in one
browser session per width: the page does not scroll sideways, code cells hide nothing, the
page stays under its weight budget, axe finds no serious violation, and the table of contents
opens from its visible button.
"""

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace
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


# --- Every page at a phone's, a tablet's and a desktop's width -------------------------------

WIDTHS = {
    375: {
        "viewport": {"width": 375, "height": 812},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    768: {"viewport": {"width": 768, "height": 1024}},
    1280: {"viewport": {"width": 1280, "height": 900}},
}
WIDE = 992  # from here on the theme shows the table of contents beside the page
# First visit of a page, its own figures (_images/) not counted: 1 MiB. The theme's icon
# script alone weighed 1.49 MB before book/_ext/icon_subset.py.
PAGE_BUDGET = 1024 * 1024
HIDDEN_CHARACTERS = 3  # a code cell may hide this many characters of a line, no more
BOX_DRAWING = "\u2500-\u257f"

MEASURE = """() => {
  const root = document.documentElement;
  const all = (selector) => [...document.querySelectorAll(selector)];
  const longest = (pre) => pre.textContent.split('\\n')
    .reduce((a, b) => (a.length >= b.length ? a : b));
  const charWidth = (element) => {
    const context = document.createElement('canvas').getContext('2d');
    context.font = getComputedStyle(element).font;
    return context.measureText('0').width;
  };
  const hidden = (pre) => Math.ceil((pre.scrollWidth - pre.clientWidth - 1) / charWidth(pre));
  const lines = (pre) => {
    const style = getComputedStyle(pre);
    const inner = pre.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    return Math.round(inner / parseFloat(style.lineHeight));
  };
  const cells = all('div.cell_input pre');
  const text = all('div.cell_output :is(.stream, .traceback, .error) pre');
  const boxes = all('div.cell_output pre').filter((pre) => /[BOX]/.test(pre.textContent));
  const loaded = performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .filter((entry) => !entry.name.includes('/_images/'));
  return {
    sideways: root.scrollWidth - root.clientWidth,
    hiding: cells.filter((pre) => hidden(pre) > HIDDEN).map((pre) => [hidden(pre), longest(pre)]),
    wrapped: cells.filter((pre) => lines(pre) > pre.textContent.trimEnd().split('\\n').length)
      .map(longest),
    scrollingText: text.filter((pre) => pre.scrollWidth > pre.clientWidth + 1).map(longest),
    wrappingBoxes: boxes.filter((pre) => getComputedStyle(pre).whiteSpace !== 'pre').map(longest),
    weight: loaded.reduce((sum, entry) => sum + entry.decodedBodySize, 0),
  };
}""".replace("BOX", BOX_DRAWING).replace("HIDDEN", str(HIDDEN_CHARACTERS))


def source_pages(site):
    """The library's highlighted source pages (viewcode), which the API reference links to."""
    return sorted(
        str(path.relative_to(site).with_suffix("")).replace(os.sep, "/")
        for path in (site / "_modules").rglob("*.html")
        if path.name != "index.html"
    )


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


# Highlighted code is most of the elements on a chapter and most of axe's time in the colour
# contrast rule; its colours are the few token classes of one stylesheet, which
# test_every_code_token_colour_keeps_its_contrast checks, all of them, in both modes. So the
# contrast rule skips the code (but not the source pages' [docs] links inside it), and every
# other rule sees the whole page.
CONTRAST_ONLY = {"runOnly": ["color-contrast"]}
ALL_BUT_CONTRAST = {"rules": {"color-contrast": {"enabled": False}}}
WITHOUT_CODE = {"include": [["html"], [".viewcode-back"]], "exclude": [[".highlight pre"]]}


def serious_violations(axe, page, page_path, context, options):
    response = axe.run(page, context, {"resultTypes": ["violations"], **options}).response
    return [
        f"{page_path}: {v['id']} ({v['impact']}, {len(v['nodes'])} elements): "
        f"{v['nodes'][0]['target']}"
        for v in response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def load(page, url, scheme):
    """Open `url` in the theme's light or dark mode (it follows the system's) once the colours
    have faded in: the theme's buttons fade from their first paint, and axe must not see that."""
    page.emulate_media(color_scheme=scheme)
    page.goto(url, wait_until="load")
    assert page.evaluate("document.documentElement.dataset.theme") == scheme
    page.wait_for_function("document.getAnimations().length === 0")


@pytest.fixture(scope="module", params=list(WIDTHS))
def layout(request, site, browser, axe):
    """One browser session at one width: every page loaded once, measured, checked by axe.

    axe checks colour contrast at 1280 px, in light and dark mode; its other rules run at
    every width. The colours are the same at every width: the phone's header buttons and
    drawer are the desktop's header and sidebar.
    """
    width = request.param
    server = Server(site)
    context = browser.new_context(**WIDTHS[width])
    page = context.new_page()
    pages, violations = {}, []
    try:
        for page_path in [*TOC_PAGES, *source_pages(site)]:
            url = urljoin(server.url, f"{page_path}.html")
            load(page, url, "light")
            pages[page_path] = page.evaluate(MEASURE)
            violations += serious_violations(axe, page, page_path, None, ALL_BUT_CONTRAST)
            if width == 1280:
                violations += serious_violations(axe, page, page_path, WITHOUT_CODE, CONTRAST_ONLY)
                load(page, url, "dark")
                violations += serious_violations(axe, page, page_path, WITHOUT_CODE, CONTRAST_ONLY)
        yield SimpleNamespace(
            width=width, url=server.url, page=page, pages=pages, violations=violations
        )
    finally:
        context.close()
        server.close()


TOKEN_CONTRAST = """(scheme) => {
  const pre = document.querySelector('div.cell_input .highlight pre');
  const classes = new Set();
  for (const sheet of document.styleSheets) {
    for (const rule of sheet.cssRules) {
      const token = /^html\\[data-theme="(\\w+)"\\] \\.highlight \\.([\\w-]+)$/;
      const match = token.exec(rule.selectorText || '');
      if (match && match[1] === scheme) classes.add(match[2]);
    }
  }
  const rgba = (css) => css.match(/[\\d.]+/g).map(Number);
  const opaque = (element) => {
    for (; element; element = element.parentElement) {
      const colour = rgba(getComputedStyle(element).backgroundColor);
      if (colour.length === 3 || colour[3] === 1) return colour;
    }
    return [255, 255, 255];
  };
  const luminance = (colour) => {
    const [r, g, b] = colour.slice(0, 3).map((c) => c / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const low = [];
  for (const name of classes) {
    const span = pre.appendChild(document.createElement('span'));
    span.className = name;
    span.textContent = 'x';
    const [light, dark] = [luminance(rgba(getComputedStyle(span).color)), luminance(opaque(span))]
      .sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    if (ratio < 4.5) low.push(`.${name}: ${ratio.toFixed(2)}`);
    span.remove();
  }
  return [classes.size, low];
}"""


@pytest.mark.parametrize("layout", [1280], indirect=True)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_code_token_colour_keeps_its_contrast(layout, scheme):
    """Every token colour of the highlighting stylesheet, on a code cell's background (4.5:1)."""
    load(layout.page, urljoin(layout.url, f"{CHAPTERS[0]}.html"), scheme)
    count, low = layout.page.evaluate(TOKEN_CONTRAST, scheme)
    assert count > 20, "the stylesheet's token rules were not found"
    assert low == [], f"token colours under 4.5:1 in {scheme} mode: {low}"


def test_no_page_scrolls_sideways(layout):
    """Measured against the layout viewport (clientWidth): a phone's innerWidth grows with
    the content, so a page that scrolls sideways would pass a test against innerWidth."""
    wide = {path: px for path, facts in layout.pages.items() if (px := facts["sideways"]) > 0}
    assert wide == {}, f"at {layout.width} px these pages scroll sideways by (px): {wide}"


def test_no_code_cell_hides_more_than_a_few_characters(layout):
    hiding = {path: facts["hiding"] for path, facts in layout.pages.items() if facts["hiding"]}
    assert hiding == {}, f"at {layout.width} px: (characters hidden, longest line) {hiding}"


@pytest.mark.parametrize("layout", [1280], indirect=True)
def test_no_code_line_wraps_at_1280_pixels(layout):
    """The code column shows about 77 characters at 1280 px; the notebooks are formatted to fit
    (code cells wrap rather than scroll, so a longer line would show as a wrapped one)."""
    wrapped = {path: facts["wrapped"] for path, facts in layout.pages.items() if facts["wrapped"]}
    assert wrapped == {}, f"code cells with lines longer than the column: {wrapped}"


def test_printed_lines_wrap_and_box_drawn_tables_keep_their_columns(layout):
    scrolling = {p: f["scrollingText"] for p, f in layout.pages.items() if f["scrollingText"]}
    boxes = {p: f["wrappingBoxes"] for p, f in layout.pages.items() if f["wrappingBoxes"]}
    assert scrolling == {}, f"at {layout.width} px these outputs scroll sideways: {scrolling}"
    assert boxes == {}, f"box-drawn tables that would wrap and lose their columns: {boxes}"


def test_every_page_stays_under_its_weight_budget(layout):
    heavy = {p: f["weight"] for p, f in layout.pages.items() if f["weight"] > PAGE_BUDGET}
    assert heavy == {}, f"first-visit bytes over {PAGE_BUDGET} (not counting figures): {heavy}"


def test_axe_finds_no_serious_accessibility_violation(layout):
    assert layout.violations == [], "\n".join(layout.violations)


def test_the_table_of_contents_opens_from_its_visible_button(layout):
    """The visible button opens the table of contents (a dialog on narrow screens; on wide ones
    it hides and shows the sidebar), by tap or click and by keyboard, and a chapter link in
    it leads to that chapter. So does the "on this page" button, where it shows."""
    page, current, target = layout.page, CHAPTERS[1], CHAPTERS[2]
    page.goto(urljoin(layout.url, f"{current}.html"), wait_until="load")
    toggle = page.locator(".primary-toggle:visible")
    assert toggle.count() == 1, "exactly one visible table-of-contents button"
    link = page.locator(f"nav.bd-docs-nav a[href$='{target.split('/')[-1]}.html']")
    if layout.width < WIDE:
        dialog = page.locator("#pst-primary-sidebar-modal")
        assert not link.is_visible()
        toggle.focus()
        page.keyboard.press("Enter")
        assert dialog.evaluate("d => d.open") and link.is_visible(), "Enter did not open it"
        page.keyboard.press("Escape")
        assert not dialog.evaluate("d => d.open"), "Escape did not close it"
        toggle.tap() if layout.width == 375 else toggle.click()
        assert dialog.evaluate("d => d.open") and link.is_visible(), "the button did not open it"
    else:
        assert link.is_visible()
        toggle.click()
        page.locator("#pst-primary-sidebar").wait_for(state="hidden")
        assert not link.is_visible(), "the button did not hide the sidebar"
        toggle.focus()
        page.keyboard.press("Enter")
        link.wait_for(state="visible")
    link.click()
    page.wait_for_url(f"**/{target}.html")

    on_this_page = page.locator(".secondary-toggle:visible")
    if layout.width < 1200:  # the theme shows "on this page" beside the text from here on
        assert on_this_page.count() == 1
        on_this_page.click()
        dialog = page.locator("#pst-secondary-sidebar-modal")
        assert dialog.evaluate("d => d.open"), "the 'on this page' button did not open it"
        assert dialog.locator("nav.page-toc a").first.is_visible()
        page.keyboard.press("Escape")
        assert not dialog.evaluate("d => d.open")


def test_screenshots_at_each_width(layout):
    """A chapter at each width, for a person to look at (test-artifacts/)."""
    ARTIFACTS.mkdir(exist_ok=True)
    layout.page.goto(urljoin(layout.url, f"{CHAPTERS[0]}.html"), wait_until="load")
    path = ARTIFACTS / f"chapter-{layout.width}.png"
    layout.page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def chapter_title(page_path):
    notebook = json.loads((ROOT / f"{page_path}.ipynb").read_text(encoding="utf-8"))
    title = notebook["cells"][0]["source"][0].removeprefix("# ").strip()
    return title.replace("`", "")  # the sidebar shows inline code without its backticks
