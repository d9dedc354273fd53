"""Turn the compatibility sessions' results into the book's table (`make compat` runs it).

Reads .nox/compat/*.json (one per nox session), prints the matrix, and writes
book/versions/matrix.json and book/versions/matrix.md, which the "Versions and backends"
page includes. Exit status 1 if a row is missing or failed, so `make compat` fails too.

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
BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX"}


def expected_rows() -> list[str]:
    rows = [f"tensorflow-keras-{minor}" for minor in noxfile.KERAS_MINORS]
    return [*rows, f"jax-keras-{noxfile.LATEST}"]


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


def main() -> int:
    records, missing = [], []
    for row in expected_rows():
        path = RESULTS / f"{row}.json"
        if path.exists():
            records.append(json.loads(path.read_text(encoding="utf-8")))
        else:
            missing.append(row)
    if missing:
        print(f"error: no results for {', '.join(missing)}; run make compat", file=sys.stderr)
        return 1
    rendered = table(records)
    print(rendered)
    today = datetime.date.today().isoformat()
    where = f"{platform.machine()} Linux, run with `make compat` on {today}"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "matrix.json").write_text(
        json.dumps({"floor": noxfile.FLOOR, "where": where, "rows": records}, indent=1) + "\n",
        encoding="utf-8",
    )
    (OUT / "matrix.md").write_text(f"{rendered}\n\n{where}.\n", encoding="utf-8")
    failed = [r["row"] for r in records if r["failed"] or not r["passed"]]
    if failed:
        print(f"error: failing rows: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
