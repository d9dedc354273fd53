"""Check the machine before the first install; print a plain message and the fix, or nothing.

Runs with the interpreter that will create the virtualenv, so it uses the standard library only.
Exit status 1 means the environment cannot work; the message says what to do.
"""

import shutil
import sys

# TensorFlow 2.21 has wheels for 3.10-3.13; the locked NumPy, SciPy and IPython need 3.11.
SUPPORTED = ((3, 11), (3, 12), (3, 13))


def main() -> int:
    problems = []
    if sys.version_info[:2] not in SUPPORTED:
        have = ".".join(map(str, sys.version_info[:3]))
        want = ", ".join(".".join(map(str, v)) for v in SUPPORTED)
        problems.append(
            f"Python {have} ({sys.executable}) cannot install the book's pinned packages\n"
            "  (TensorFlow 2.21 has no wheels beyond 3.13; the pinned NumPy and SciPy need 3.11).\n"
            f"  Supported: {want}. Install one, then run for example:  make PYTHON=python3.11 book"
        )
    if shutil.which("dot") is None:
        problems.append(
            "Graphviz is missing (the 'dot' program draws the model diagrams).\n"
            "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
            "  macOS:          brew install graphviz"
        )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
