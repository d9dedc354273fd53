"""Drop duplicate <script> tags from every page.

sphinx-thebe 0.3.1 registers its inline configuration script twice under Sphinx 7.4
(`const THEBE_JS_URL` declared twice), which is a JavaScript error on every page. Remove this
extension (and its line in _config.yml) once the pinned sphinx-thebe registers it once:
tests/test_browser.py, which fails on any page error, then passes without it.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        # The same script is registered once with filename None and once with "".
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
