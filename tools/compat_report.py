"""Turn the compatibility runs' results into the book's tables (`make compat` runs it).

Reads .nox/compat/*.json (one per nox session: the library's tests) and _build/nbval/*.json
(one per backend: the book's nbval run, written by tools/nbval_backends.py), prints both
tables, and writes book/versions/matrix.json, matrix.md and book.md, which the "Versions and
backends" page includes. Exit status 1 if a row is missing or failed, so `make compat` fails.

Usage: python tools/compat_report.py
"""

import datetime
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import noxfile  # noqa: E402  (the matrix is defined there, once)

RESULTS = ROOT / noxfile.RESULTS
OUT = ROOT / "book" / "versions"
NBVAL = ROOT / "_build" / "nbval"
BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def expected_rows() -> list[str]:
    rows = [f"tensorflow-keras-{minor}" for minor in noxfile.KERAS_MINORS]
    return [*rows, *(f"{backend}-keras-{noxfile.LATEST}" for backend in ("jax", "torch"))]


def table(records: list[dict]) -> str:
    lines = [
        "| Keras | backend | backend version | Python | passed | failed | skipped | result |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for record in records:
        ok = record["failed"] == 0 and record["passed"] > 0
        lines.append(
            f"| {record['keras']} | {BACKENDS[record['backend']]} | {record['backend_version']} "
            f"| {record['python']} | {record['passed']} | {record['failed']} "
            f"| {record['skipped']} | {'pass' if ok else '**fail**'} |"
        )
    return "\n".join(lines)


def read(paths: dict[str, Path]) -> tuple[list[dict], list[str]]:
    """The records of the paths that exist, and the names of those that do not."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in paths.values() if p.exists()]
    return records, [name for name, path in paths.items() if not path.exists()]


def book_table(runs: list[dict]) -> str:
    """One row per backend: the book's code cells compared with the stored outputs."""
    lines = [
        "| backend | backend version | Keras | cells compared | passed | failed "
        "| skipped (TensorFlow only) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {BACKENDS[run['backend']]} | {run['backend_version']} | {run['keras']} "
            f"| {run['compared']} | {run['passed']} | {run['failed']} | {run['skipped']} |"
        )
    return "\n".join(lines)


def main() -> int:
    records, missing = read({row: RESULTS / f"{row}.json" for row in expected_rows()})
    runs, missing_runs = read({backend: NBVAL / f"{backend}.json" for backend in BACKENDS})
    chapters = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    missing += [f"the book on {name}" for name in missing_runs]
    missing += [
        f"part of the book on {r['backend']}" for r in runs if set(r["notebooks"]) != chapters
    ]
    if missing:
        print(f"error: no results for {', '.join(missing)}; run make compat", file=sys.stderr)
        return 1
    rendered, book = table(records), book_table(runs)
    print(rendered, book, sep="\n\n")
    today = datetime.date.today().isoformat()
    where = f"{platform.machine()} Linux, run with `make compat` on {today}"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "matrix.json").write_text(
        json.dumps(
            {"floor": noxfile.FLOOR, "where": where, "rows": records, "book": runs}, indent=1
        )
        + "\n",
        encoding="utf-8",
    )
    (OUT / "matrix.md").write_text(f"{rendered}\n\n{where}.\n", encoding="utf-8")
    (OUT / "book.md").write_text(f"{book}\n\n{where}.\n", encoding="utf-8")
    failed = [r["row"] for r in records if r["failed"] or not r["passed"]]
    failed += [f"the book on {r['backend']}" for r in runs if r["failed"] or not r["passed"]]
    if failed:
        print(f"error: failing rows: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
