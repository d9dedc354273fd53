"""Render Markdown code fences in docstrings, as Keras writes them, as RST code blocks.

The library's docstrings follow keras/src/models/cloning.py: Google-style sections with
```python fenced examples. autodoc reads docstrings as reStructuredText, where a fence is
broken markup; this turns each fence into a `.. code-block::` before napoleon runs.
"""

import re

FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


def fences_to_code_blocks(lines: list[str]) -> list[str]:
    result, indent = [], None
    for line in lines:
        match = FENCE.match(line)
        if match and indent is None:
            indent = match.group(1)
            result += [f"{indent}.. code-block:: {match.group(2) or 'text'}", ""]
        elif match:
            indent = None
            result.append("")
        elif indent is not None:
            result.append(f"{indent}    {line[len(indent) :]}" if line.strip() else "")
        else:
            result.append(line)
    return result


def _process(app, what, name, obj, options, lines):
    lines[:] = fences_to_code_blocks(lines)


def setup(app):
    app.connect("autodoc-process-docstring", _process, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
