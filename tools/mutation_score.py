"""The mutation score of the last `mutmut run`, per module and in all.

mutmut keeps one result per mutant in ``mutants/<source path>.meta`` (JSON, the
test run's exit code by mutant name). This reads those files, prints a table
and exits 1 when any module's score, or the total, is below the threshold:

    python tools/mutation_score.py                 # print only
    python tools/mutation_score.py --min 90        # and fail when a module is below 90 %
    python tools/mutation_score.py --survivors     # and name every mutant not killed
    python tools/mutation_score.py 'digitnet.losses.*'   # only these mutants (mutmut's names)
    python tools/mutation_score.py --undetected    # their names only, to rerun them

A mutant counts as detected when a test failed (killed) or ran past its time
limit (timeout: the mutant made the code loop or crawl, which a user notices).
"No tests" and "survived" count against the score; mutants not yet run
(an interrupted run) are shown and count against it too.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py, status_by_exit_code); any other code is "suspicious".
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          35: "suspicious", 36: "timeout", 37: "caught by type check", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault", None: "not checked",
          2: "interrupted"}
DETECTED = {"killed", "timeout", "caught by type check"}
COLUMNS = ["killed", "timeout", "survived", "no tests", "not checked", "other"]


def read_results(mutants: Path, patterns: list[str]) -> dict[str, dict[str, str]]:
    """Status by mutant name, per source file (``src/digitnet/losses.py``), of the mutants
    whose names match one of ``patterns`` (all when empty)."""
    results = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        source = meta.relative_to(mutants).as_posix().removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        statuses = {name: STATUS.get(code, "suspicious") for name, code in codes.items()
                    if not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)}
        if statuses:
            results[source] = statuses
    return results


def tally(statuses: dict[str, str]) -> Counter:
    counts = Counter(s if s in COLUMNS else "other" for s in statuses.values())
    counts["total"] = len(statuses)
    counts["detected"] = sum(s in DETECTED for s in statuses.values())
    return counts


def score(counts: Counter) -> float:
    return 100.0 * counts["detected"] / counts["total"] if counts["total"] else 100.0


def format_table(results: dict[str, dict[str, str]]) -> str:
    head = f"{'module':<32}{'total':>7}" + "".join(f"{c:>13}" for c in COLUMNS) + f"{'score':>9}"
    lines = [head, "-" * len(head)]
    everything: dict[str, str] = {}
    for source, statuses in results.items():
        everything.update(statuses)
        lines.append(_row(source, tally(statuses)))
    lines += ["-" * len(head), _row("total", tally(everything))]
    return "\n".join(lines)


def _row(name: str, counts: Counter) -> str:
    return (f"{name:<32}{counts['total']:>7}" + "".join(f"{counts[c]:>13}" for c in COLUMNS)
            + f"{score(counts):>8.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="mutant names or glob patterns, as for `mutmut run`")
    parser.add_argument("--min", type=float, default=0.0,
                        help="fail when any module or the total scores below this (percent)")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder")
    parser.add_argument("--survivors", action="store_true", help="list every mutant not detected")
    parser.add_argument("--undetected", action="store_true",
                        help="print only the names of the mutants not detected, one a line (to rerun them)")
    args = parser.parse_args(argv)

    results = read_results(args.mutants, args.patterns)
    if not results:
        print(f"no mutmut results under {args.mutants}/ for {args.patterns or 'any mutant'}: "
              "run `make mutation` first", file=sys.stderr)
        return 2
    if args.undetected:
        # mutmut reruns a mutant only when its function changes or it is named: after new
        # tests, name the survivors (`make mutation-recheck`).
        print("\n".join(name for statuses in results.values() for name, status in sorted(statuses.items())
                        if status not in DETECTED))
        return 0
    print(format_table(results))
    if args.survivors:
        for statuses in results.values():
            for name, status in sorted(statuses.items()):
                if status not in DETECTED:
                    print(f"  {status:<12} {name}")
    # The bar holds for every module, not only the total: a strong module must not hide a weak one.
    scores = {source: score(tally(statuses)) for source, statuses in results.items()}
    scores["total"] = score(tally({k: v for statuses in results.values() for k, v in statuses.items()}))
    below = [f"{name} {value:.1f}%" for name, value in scores.items() if value < args.min]
    if below:
        print(f"mutation score below {args.min:g}%: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
