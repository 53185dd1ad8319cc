"""The README's Python example runs as written, from a fresh working folder."""

import subprocess
import sys

from conftest import REPO


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading`` in README.md."""
    text = (REPO / "README.md").read_text()
    return text.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def run_block(heading: str, folder, timeout: int) -> subprocess.CompletedProcess:
    """Run the README's example under ``heading`` as a script in ``folder``; it must succeed."""
    script = folder / "example.py"
    script.write_text(readme_block(heading))
    result = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def test_python_api_example_runs(tmp_path):
    result = run_block("## Python API: any arrays", tmp_path, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[0] == "Network(Dense(20, 32), ReLU(), Dense(32, 3))"
    assert set(eval(lines[1].replace("' '", "', '"))) <= {"circle", "square", "triangle"}
    accuracy = float(lines[-1].split()[-1].rstrip("%"))
    assert accuracy >= 95.0, result.stdout                    # well-separated classes
    assert (tmp_path / "shapes.npz").is_file()


def test_scikit_learn_example_runs(tmp_path):
    result = run_block("## scikit-learn: `DigitnetClassifier`", tmp_path, timeout=300)
    search_line, fitted_line = result.stdout.splitlines()
    assert float(search_line.split()[-1].rstrip("%")) >= 95.0, result.stdout
    assert "[0 1 2 3 4 5 6 7 8 9] 5 [(64, 512), (512, 256), (256, 10)]" in fitted_line, result.stdout
    assert float(fitted_line.split()[-1].rstrip("%")) >= 90.0, result.stdout
    assert (tmp_path / "digits.npz").is_file()
