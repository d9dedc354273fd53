"""Let long inline code break where a reader expects: after `.`, `(`, `[`, `,`, `/` and `=`.

Sphinx writes each word of inline code, and of an API signature, as <span class="pre">. On a
phone `keras.Sequential(model.layers)` in a heading is wider than the screen, and the browser
can only cut it anywhere (book.css's overflow-wrap): "keras.Sequential(m" / "odel.layers)".
A <wbr> after each separator lets it break as "keras.Sequential(" / "model.layers)" instead;
it changes nothing where the word fits, adds no character to copied text, and the search
index, which Sphinx builds from the document rather than from the HTML, does not see it.
The library's source pages get the same in their title ("Source code for keras_convert.
conversion"), a module name in 42 px type.
"""

import re

PRE = re.compile(r'(<span class="pre">)([^<]*)(</span>)')
# After a word or a closing bracket, before anything that is not a space or a closer.
SEPARATOR = re.compile(r"(?<=[\w)\]])([.(\[,/=])(?=[^\s.,;)\]])")
SOURCE_TITLE = re.compile(r"(<h1>Source code for )([\w.]+)(</h1>)")


def _with_breaks(match):
    opening, text, closing = match.groups()
    return opening + SEPARATOR.sub(r"\1<wbr>", text) + closing


def _add_breaks(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body:
        context["body"] = SOURCE_TITLE.sub(_with_breaks, PRE.sub(_with_breaks, body))


def setup(app):
    app.connect("html-page-context", _add_breaks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
