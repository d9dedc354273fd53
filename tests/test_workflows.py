"""The public host's workflows: they lint clean, a broken one fails the lint, and they run
the project's own entry points (.ci/run for CI, `make book` for the published site)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def lint(folder: Path) -> subprocess.CompletedProcess:
    files = sorted(str(path) for path in folder.glob("*.yml"))
    return subprocess.run([str(ACTIONLINT), *files], capture_output=True, text=True, cwd=folder)


def steps(name: str) -> list[dict]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_workflows_lint_clean():
    result = lint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("python-version:", "python-versoin:", 'input "python-versoin" is not defined'),
        ("${{ github.ref }}", "${{ github.reff }}", 'property "reff" is not defined'),
        ("actions/checkout@v5", "actions/checkout@v4", 'runtime "node20" is deprecated'),
    ],
    ids=["unknown-input", "bad-expression", "outdated-action"],
)
def test_a_broken_workflow_fails_the_lint(tmp_path, old, new, message):
    shutil.copy(WORKFLOWS / "ci.yml", tmp_path / "ci.yml")
    text = (tmp_path / "ci.yml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "ci.yml").write_text(text.replace(old, new, 1), encoding="utf-8")
    result = lint(tmp_path)
    assert result.returncode != 0 and message in result.stdout


def test_ci_runs_what_the_project_ci_runs():
    runs = [step.get("run", "") for step in steps("ci.yml")]
    assert any("bash .ci/run" in run for run in runs)


def test_the_published_site_is_the_one_make_book_builds():
    all_steps = steps("pages.yml")
    assert any(step.get("run", "").strip() == "make book" for step in all_steps)
    uploads = [
        s for s in all_steps if s.get("uses", "").startswith("actions/upload-pages-artifact")
    ]
    assert [step["with"]["path"] for step in uploads] == ["_build/html"]
