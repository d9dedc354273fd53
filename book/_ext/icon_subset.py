"""Serve only the icons the pages show: a few kilobytes instead of 1.8 MB on every page.

pydata-sphinx-theme 0.17 puts Font Awesome on every page twice over: fontawesome.js (1.49 MB),
which swaps each icon for an inline SVG, and the full icon fonts, which its stylesheet also
loads (solid 156 kB, brands 118 kB). The book's pages use some twenty icons. So:

- book/_static/scripts/fontawesome.js replaces the theme's script with an empty one (files in
  html_static_path overwrite the theme's); the icons are drawn by the theme's own stylesheet
  from the icon font, as they are before the script runs.
- When the build is done, this extension subsets the theme's icon fonts to the glyphs that the
  built pages name (`fa-*` classes) plus those that the theme's stylesheet draws itself
  (admonition and breadcrumb icons), into _static/icons/. book.css declares them after the
  theme's fonts, so the browser takes them; a glyph missing from them falls back to the
  theme's full font, which costs weight (tests/test_browser.py's weight budget) but never
  shows a blank icon.

Font Awesome Free's fonts are under the SIL Open Font License 1.1, which allows subsets; the
subsets keep the fonts' name table, license included.

Remove this extension, book/_static/scripts/fontawesome.js and book.css's @font-face rules once
the pinned pydata-sphinx-theme loads only the icons a page uses: tests/test_browser.py's
weight budget then holds without them.
"""

import re
from pathlib import Path

from fontTools import subset

FONTS = ("fa-solid-900", "fa-regular-400", "fa-brands-400")
WEBFONTS = Path("_static", "vendor", "fontawesome", "webfonts")
THEME_CSS = Path("_static", "styles", "pydata-sphinx-theme.css")
ICONS = Path("_static", "icons")
# `.fa-bars:before,.fa-navicon:before{content:"\f0c9"}` in the theme's stylesheet.
GLYPH_RULE = re.compile(r"((?:\.fa-[a-z0-9-]+:before,?)+)\{content:\"\\([0-9a-f]+)\"\}")
CLASS_ATTRIBUTE = re.compile(r'class="([^"]*\bfa-[^"]*)"')


def _codepoints(outdir: Path) -> set[int]:
    css = (outdir / THEME_CSS).read_text(encoding="utf-8")
    glyphs = {}
    for selectors, code in GLYPH_RULE.findall(css):
        for name in re.findall(r"\.(fa-[a-z0-9-]+):before", selectors):
            glyphs[name] = int(code, 16)
    used = set()
    for page in outdir.rglob("*.html"):
        for classes in CLASS_ATTRIBUTE.findall(page.read_text(encoding="utf-8")):
            used.update(glyphs[name] for name in classes.split() if name in glyphs)
    # Icons the stylesheet draws itself, written as private-use characters in its variables.
    used.update(ord(char) for char in re.findall("[\ue000-\uf8ff]", css))
    return used


def _subset_fonts(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    codepoints = _codepoints(outdir)
    (outdir / ICONS).mkdir(exist_ok=True)
    options = subset.Options()
    options.flavor = "woff"  # woff2 needs the brotli module, which nothing else here needs
    options.name_IDs = ["*"]  # keep the copyright and license records
    options.notdef_outline = True
    for name in FONTS:
        font = subset.load_font(str(outdir / WEBFONTS / f"{name}.ttf"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(font)
        subset.save_font(font, str(outdir / ICONS / f"{name}.woff"), options)


def setup(app):
    app.connect("build-finished", _subset_fonts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
