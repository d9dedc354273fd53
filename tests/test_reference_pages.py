"""The reference pages cannot rot: their code runs, their quoted messages are produced, their
routes are run.

A quoted message is a ```text block preceded by the MyST comment `% produced-by: ID`, where
`ID` names a case in `tests/reference_cases.py` that returns the real messages, one for each
message in the block, in order. A block holds one or more messages; each starts on a line
`ClassName: ` (a warning is quoted without one). The rule for comparing a quote with the real
message `ClassName: str(error)`:

- runs of whitespace are one space, on both sides (the page wraps long messages), and the
  terminal colour codes Keras puts around a wrapped message are dropped;
- `...` in a quote stands for any text: the names, shapes, numbers, paths and addresses of the
  reader's own model, and whatever the page leaves out at the end of a long message;
- everything else must match exactly, from the first character to the last.

A case runs on the backends it names; a message that differs by backend is quoted once per
backend, each block with its own case (the page says which backend it belongs to).
"""

import importlib.util
import re
from pathlib import Path

import keras
import pytest

from tests import ROOT, reference_cases

BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
PAGES = sorted(p for p in (ROOT / "book").glob("*.md") if BLOCK.search(p.read_text("utf-8")))
QUOTING_PAGES = [
    ROOT / "book" / name for name in ("errors.md", "cheat_sheet.md", "decision_guide.md")
]
QUOTE = re.compile(r"^(?:% produced-by: (\S+)\n)?```text\n(.*?)^```$", re.DOTALL | re.MULTILINE)
MESSAGE_START = re.compile(r"^(?=\w+(?:Error|Exception): )", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BACKEND = keras.backend.backend()
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_reference_pages_have_code():
    names = {page.name for page in PAGES}
    assert {"cheat_sheet.md", "decision_guide.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_code_block_runs(page):
    namespace = {"__name__": f"book_{page.stem}"}
    for number, block in enumerate(python_blocks(page), start=1):
        if not HAS_TENSORFLOW and re.search(r"^import (tensorflow|tf_keras)", block, re.M):
            # Keras 2 files and the exporters need TensorFlow; the JAX and PyTorch virtualenvs
            # have none. Later blocks build on this one, so they stop here too.
            pytest.skip(f"{page.name}: blocks {number} and later need TensorFlow")
        try:
            exec(compile(block, f"{page.name}, block {number}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{page.name}, code block {number} failed: {error!r}\n{block}")


def test_block_extraction_sees_every_fence():
    """A fence the regex missed would silently go untested."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert text.count("```python") == len(python_blocks(page)), page.name


# Quoted messages


def quotes() -> list[tuple[str, str | None, str]]:
    """(page, case id or None, block text) of every ```text block on the quoting pages."""
    found = []
    for page in QUOTING_PAGES:
        text = page.read_text(encoding="utf-8")
        found += [(page.name, case, block) for case, block in QUOTE.findall(text)]
    return found


def normalise(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


def pattern(quote: str) -> re.Pattern:
    """The quote as a regular expression: `...` is any text, everything else literal."""
    literal = [re.escape(piece) for piece in normalise(quote).split("...")]
    return re.compile(".*?".join(literal), re.DOTALL)


def split_messages(block: str) -> list[str]:
    return [part for part in MESSAGE_START.split(block) if part.strip()]


def test_every_quote_has_a_producer():
    """No orphan: every quoted block names a case that exists, and every case is quoted."""
    named = [case for _, case, _ in quotes()]
    orphans = [(page, block[:60]) for page, case, block in quotes() if not case]
    assert not orphans, f"blocks without `% produced-by: ID`: {orphans}"
    assert set(named) <= set(reference_cases.MESSAGES), set(named) - set(reference_cases.MESSAGES)
    assert set(reference_cases.MESSAGES) <= set(named), "cases no page quotes"
    assert len(named) == len(set(named)), "a case quoted twice"


def test_normalisation_rule():
    """The rule of the module docstring, on one wrapped quote with a wildcard."""
    real = "ValueError: No such layer: conv1. Existing\nlayers are: ['base', 'head']."
    assert pattern("ValueError: No such layer: .... Existing layers\nare: [...].").fullmatch(
        normalise(real)
    )
    assert not pattern("ValueError: No such layer: ...").fullmatch("ValueError: Unknown: x")
    assert not pattern("ValueError: No such layer").fullmatch(normalise(real))  # not a prefix
    assert split_messages("AttributeError: a\nb.\nTypeError: c") == [
        "AttributeError: a\nb.\n",
        "TypeError: c",
    ]


@pytest.mark.parametrize(
    ("page", "case", "block"), quotes(), ids=[f"{p}::{c}" for p, c, _ in quotes()]
)
def test_quoted_message_is_the_real_one(page, case, block):
    producer = reference_cases.MESSAGES[case]
    if BACKEND not in producer.backends:
        pytest.skip(f"{case} is quoted for {sorted(producer.backends)}")
    quoted = split_messages(block)
    real = producer.run()
    assert len(real) == len(quoted), f"{page}: {case} quotes {len(quoted)}, produces {len(real)}"
    for quote, message in zip(quoted, real, strict=True):
        assert pattern(quote).fullmatch(normalise(message)), (
            f"{page}, {case}: the quote\n{quote}\nis not the message\n{message}"
        )


# Quotes in running text


CODE_SPAN = re.compile(r"`[^`\n]+`")
INLINE_QUOTE = re.compile(r'"([^"]+)"')


def inline_quotes(page: Path) -> list[str]:
    """Double-quoted text in the prose of a page (outside code blocks; a quote may hold code)."""
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    spans = CODE_SPAN.findall(text)
    numbered = iter(range(len(spans)))
    masked = CODE_SPAN.sub(lambda _: f"\x00{next(numbered)}\x00", text)  # `"` opens no quote
    return [
        re.sub("\x00(\\d+)\x00", lambda span: spans[int(span[1])], quote)
        for quote in INLINE_QUOTE.findall(masked)
    ]


@pytest.mark.parametrize("page", ["cheat_sheet.md", "decision_guide.md"])
def test_quotes_in_running_text_are_quoted_on_the_errors_page(page):
    """A message quoted in a sentence is one of the produced blocks, or a part of one."""
    blocks = normalise(" ".join(block for _, _, block in quotes()))
    for quote in inline_quotes(ROOT / "book" / page):
        assert pattern(quote).search(blocks), f"{page}: {quote!r} is quoted by no block"


# Routes of the decision guide


# Each row, by the start of its first cell, and what runs its route: a code block of a
# reference page, a route case of tests/reference_cases.py, or a test elsewhere in tests/.
CONVERSION = "tests/test_conversion.py::"
APPLICATIONS = "tests/test_applications.py::"
ROUTE_ROWS = {
    "a plain stack of layers": "cheat_sheet.md",
    "several inputs or outputs, shared": CONVERSION
    + "test_to_functional_keeps_multi_input_structure",
    "proof that two models": "cheat_sheet.md",
    "to debug shapes while building": "add_and_summary",
    "intermediate features of a Sequential": "intermediate_features",
    "a built Sequential model": "cheat_sheet.md",
    "an unbuilt Sequential model": "cheat_sheet.md",
    "a Sequential model": "second_head",
    "a subclassed model": "cheat_sheet.md",
    "a multi-input or multi-output model": "cheat_sheet.md",
    "a Functional chain": "cheat_sheet.md",
    "a Functional model with skip": "cheat_sheet.md",
    "a model with several inputs or outputs": CONVERSION
    + "test_multi_input_and_output_models_never_convert_even_with_grouping",
    "a model nested inside another": "cheat_sheet.md",
    "a nested base": "cheat_sheet.md",
    "`Sequential([base, head])`": CONVERSION + "test_to_functional_keeps_nested_models_nested",
    "`Sequential([ResNet50(...)": APPLICATIONS
    + "test_branched_applications_raise_then_convert_with_grouped_blocks",
    "a real architecture": APPLICATIONS + "test_linear_applications_convert_exactly",
    "an old tf.keras (Keras 2) `.h5`": "cheat_sheet.md",
    "a TensorFlow SavedModel folder": "cheat_sheet.md",
    "a `.keras` file from TensorFlow 2.13": "cheat_sheet.md",
    "a checkpoint folder from Keras 2": "cheat_sheet.md",
    "a Keras 2 custom layer with weights": "cheat_sheet.md",
    "a Keras 2 model that calls TensorFlow": "cheat_sheet.md",
    "a model file": "tests/test_cli.py::test_inspect_a_sequential_model",
    "insert Dropout": "cheat_sheet.md",
    "remove a layer": "cheat_sheet.md",
    "swap the head": "cheat_sheet.md",
    "change the input size": "new_input_size",
    "insert a layer that changes the shape": "incompatible_shape",
    "continue training a converted model": "cheat_sheet.md",
    "know what a conversion keeps": CONVERSION + "test_batch_norm_moving_statistics_are_kept",
    "save a converted model": "cheat_sheet.md",
    "load weights into a changed model": "objects_not_loaded",
    "load a model file someone else made": "lambda_safe_mode",
    "keep conversions correct": "decision_guide.md",
    "understand an error message": "errors.md",
    "fine-tune a backbone": "freeze_batch_normalization",
    "run a model outside Keras": "cheat_sheet.md",
    "know whether the API changes speed": "benchmarks/bench_inference.py",
    "know which Keras versions": "tests/test_versions.py",
}


def route_rows() -> list[str]:
    text = (ROOT / "book" / "decision_guide.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (.+?) \|", text, re.MULTILINE)
    return [row for row in rows if row not in {"---", "I have / I want", "I have", "I want to"}]


def test_every_route_row_has_a_runner():
    rows = route_rows()
    for row in rows:
        keys = [key for key in ROUTE_ROWS if row.startswith(key)]
        assert len(keys) >= 1, f"decision guide row without a route test: {row!r}"
    unused = [key for key in ROUTE_ROWS if not any(row.startswith(key) for row in rows)]
    assert not unused, f"ROUTE_ROWS names rows the page no longer has: {unused}"


@pytest.mark.parametrize("runner", sorted(set(ROUTE_ROWS.values())))
def test_every_route_runner_exists(runner):
    if runner.endswith(".md"):
        assert (ROOT / "book" / runner).exists()
        return
    if runner in reference_cases.ROUTES or runner in reference_cases.MESSAGES:
        return
    path, _, function = runner.partition("::")
    source = (ROOT / path).read_text(encoding="utf-8")
    assert not function or f"def {function}(" in source, runner


@pytest.mark.parametrize("name", sorted(reference_cases.ROUTES))
def test_route_runs(name):
    route = reference_cases.ROUTES[name]
    if BACKEND not in route.backends:
        pytest.skip(f"{name} runs on {sorted(route.backends)}")
    route.run()
