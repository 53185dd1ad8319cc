"""The README's Python example runs as written, from a fresh working folder."""

import subprocess
import sys

from conftest import REPO


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading`` in README.md."""
    text = (REPO / "README.md").read_text()
    return text.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_python_api_example_runs(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(readme_block("## Python API: any arrays"))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Network(Dense(20, 32), ReLU(), Dense(32, 3))"
    assert set(eval(lines[1].replace("' '", "', '"))) <= {"circle", "square", "triangle"}
    accuracy = float(lines[-1].split()[-1].rstrip("%"))
    assert accuracy >= 95.0, result.stdout                    # well-separated classes
    assert (tmp_path / "shapes.npz").is_file()
