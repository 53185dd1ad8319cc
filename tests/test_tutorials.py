"""The tutorials run top to bottom in a real Jupyter kernel, and every assert in them holds."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_four_tutorials_and_the_readme_links_them_in_order():
    assert [p.stem[:2] for p in TUTORIALS] == ["01", "02", "03", "04"]
    readme = (REPO / "README.md").read_text()
    positions = [readme.find(f"docs/tutorials/{p.name}") for p in TUTORIALS]
    assert -1 not in positions and positions == sorted(positions), positions


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_and_its_claims_hold(tutorial, tmp_path):
    """`make notebooks` on one tutorial: every cell runs (a failed assert fails it), figures come out."""
    # Time limits guard against a hang (a cell, then the whole notebook), far above the ~40 s
    # the four take together; how long they take is measured, not tested (README, Tutorials).
    result = subprocess.run([sys.executable, str(REPO / "tools" / "notebooks.py"), str(tutorial),
                             "--out", str(tmp_path), "--timeout", "120"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    notebook = json.loads((tmp_path / f"{tutorial.stem}.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(cell["execution_count"] for cell in code)          # every cell ran
    outputs = [o for cell in code for o in cell["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 1                                             # plots appear inline
