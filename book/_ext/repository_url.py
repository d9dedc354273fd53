"""Write the repository's address into code on the book's pages.

The address lives in one place, `repository.url` in _config.yml (Jupyter Book passes it to
Sphinx as `html_theme_options["repository_url"]`). A page that must show it in code, such as
a `pip install` line, writes REPOSITORY_URL instead; this extension replaces that word in
code blocks and inline code when the page is built.
"""

from docutils import nodes

PLACEHOLDER = "REPOSITORY_URL"


def _fill_in(app, doctree, docname):
    url = app.config.html_theme_options.get("repository_url", "")
    if not url:
        return
    for code in doctree.findall(lambda node: isinstance(node, nodes.literal_block | nodes.literal)):
        for text in list(code.findall(nodes.Text)):
            if PLACEHOLDER in text:
                text.parent.replace(text, nodes.Text(text.replace(PLACEHOLDER, url)))


def setup(app):
    app.connect("doctree-resolved", _fill_in)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
