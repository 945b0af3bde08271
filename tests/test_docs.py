"""The docs say what the code does: the schema section, the README's commands, CI."""
from __future__ import annotations

import re

from conftest import ROOT
from scoring.schema import markdown


def test_schema_doc_matches_the_declaration():
    text = (ROOT / "docs" / "DATA.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- schema:start -->\n(.*)<!-- schema:end -->", text, re.S)
    assert section, "docs/DATA.md lost its schema markers"
    assert section.group(1) == markdown(), "regenerate: python -m scoring.docs"


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S).group(1)
    return [ln for ln in first_block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_opens_with_the_two_commands():
    run, test = _readme_commands()
    assert "pip install -r requirements.txt" in run and "streamlit run app.py" in run
    assert "pip install -r requirements-dev.txt" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _readme_commands()[1] in ci.splitlines()
