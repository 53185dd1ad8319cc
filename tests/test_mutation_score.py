"""tools/mutation_score.py: the score `make mutation` prints and the bar it enforces, read from
result files laid out as mutmut 3 writes them (mutants/<source>.meta, exit code by mutant)."""

import json
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
score_tool = runpy.run_path(str(REPO / "tools" / "mutation_score.py"))
main = score_tool["main"]


def write_results(mutants: Path, source: str, codes: dict) -> None:
    meta = mutants / f"{source}.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}))


@pytest.fixture
def mutants(tmp_path):
    """Module a: 19 of 20 detected (95%); module b: 17 of 20 (85%, 1 timeout counted as detected);
    in all 36 of 40 (90%)."""
    folder = tmp_path / "mutants"
    write_results(folder, "src/pkg/a.py", {f"pkg.a.x_f__mutmut_{i}": 1 for i in range(19)}
                  | {"pkg.a.x_f__mutmut_19": 0})
    write_results(folder, "src/pkg/b.py", {f"pkg.b.x_g__mutmut_{i}": 1 for i in range(16)}
                  | {"pkg.b.x_g__mutmut_16": 36, "pkg.b.x_g__mutmut_17": 0, "pkg.b.x_g__mutmut_18": 33,
                     "pkg.b.x_g__mutmut_19": None})
    return folder


def test_the_table_counts_each_module_and_the_total(mutants, capsys):
    assert main(["--mutants", str(mutants)]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]
             if line and not line.startswith("-")}
    # module, total, killed, timeout, survived, no tests, not checked, other, score
    assert lines["src/pkg/a.py"] == ["src/pkg/a.py", "20", "19", "0", "1", "0", "0", "0", "95.0%"]
    assert lines["src/pkg/b.py"] == ["src/pkg/b.py", "20", "16", "1", "1", "1", "1", "0", "85.0%"]
    assert lines["total"] == ["total", "40", "35", "1", "2", "1", "1", "0", "90.0%"]


def test_the_bar_holds_for_every_module_not_only_the_total(mutants, capsys):
    assert main(["--mutants", str(mutants), "--min", "90"]) == 1     # the total is 90.0%, b is not
    assert "src/pkg/b.py 85.0%" in capsys.readouterr().err
    assert main(["--mutants", str(mutants), "--min", "85"]) == 0
    assert main(["--mutants", str(mutants), "--min", "90", "pkg.a.*"]) == 0


def test_the_undetected_are_named_for_a_rerun(mutants, capsys):
    assert main(["--mutants", str(mutants), "--undetected"]) == 0
    assert capsys.readouterr().out.split() == ["pkg.a.x_f__mutmut_19", "pkg.b.x_g__mutmut_17",
                                               "pkg.b.x_g__mutmut_18", "pkg.b.x_g__mutmut_19"]


def test_no_results_is_said_in_one_line(tmp_path, capsys):
    assert main(["--mutants", str(tmp_path / "none")]) == 2
    assert "run `make mutation` first" in capsys.readouterr().err


def sampled_names(mutants, capsys, *flags):
    assert main(["--mutants", str(mutants), "--undetected", "--sample", "5", *flags]) == 0
    return capsys.readouterr().out.split()


def test_a_sample_is_the_same_for_a_seed_and_another_for_another_seed(tmp_path, capsys):
    folder = tmp_path / "mutants"
    write_results(folder, "src/pkg/a.py", {f"pkg.a.x_f__mutmut_{i}": None for i in range(40)})
    write_results(folder, "src/pkg/b.py", {f"pkg.b.x_g__mutmut_{i}": None for i in range(3)})
    first = sampled_names(folder, capsys)
    assert sampled_names(folder, capsys) == first                      # every run draws the same
    assert len([n for n in first if n.startswith("pkg.a.")]) == 5      # N of a larger module
    assert [n for n in first if n.startswith("pkg.b.")] == [f"pkg.b.x_g__mutmut_{i}" for i in range(3)]
    other = sampled_names(folder, capsys, "--sample-seed", "1")
    assert set(other) != set(first) and len(other) == len(first)


def test_a_sampled_table_scores_the_sample_with_its_interval(mutants, capsys):
    assert main(["--mutants", str(mutants), "--sample", "20"]) == 0    # all 20 of each: as unsampled
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]
            if line and not line.startswith("-")}
    assert rows["src/pkg/a.py"][-3:] == ["95.0%", "20", "76.4-99.1%"]
    assert rows["total"][-3:] == ["90.0%", "40", "76.9-96.0%"]
    assert main(["--mutants", str(mutants), "--sample", "4", "--undetected"]) == 0
    undetected = capsys.readouterr().out.split()
    assert set(undetected) <= {"pkg.a.x_f__mutmut_19", "pkg.b.x_g__mutmut_17",
                               "pkg.b.x_g__mutmut_18", "pkg.b.x_g__mutmut_19"}


@pytest.mark.parametrize("detected, total, low, high", [(95, 100, 88.82, 97.84), (0, 10, 0.0, 27.75),
                                                         (10, 10, 72.25, 100.0)])
def test_the_wilson_interval(detected, total, low, high):
    assert score_tool["wilson_interval"](detected, total) == pytest.approx((low, high), abs=0.01)
