"""The mutation score of the last `mutmut run`, per module and in all.

mutmut keeps one result per mutant in ``mutants/<source path>.meta`` (JSON, the
test run's exit code by mutant name). This reads those files, prints a table
and exits 1 when any module's score, or the total, is below the threshold:

    python tools/mutation_score.py                 # print only
    python tools/mutation_score.py --min 90        # and fail when a module is below 90 %
    python tools/mutation_score.py --survivors     # and name every mutant not killed
    python tools/mutation_score.py 'digitnet.losses.*'   # only these mutants (mutmut's names)
    python tools/mutation_score.py --undetected    # their names only, to rerun them
    python tools/mutation_score.py --sample 200    # a random 200 mutants of each module (below)

A mutant counts as detected when a test failed (killed) or ran past its time
limit (timeout: the mutant made the code loop or crawl, which a user notices).
"No tests" and "survived" count against the score; mutants not yet run
(an interrupted run) are shown and count against it too.

Mutant sampling (``--sample N``): the same random N mutants of each module (all of a smaller
one) for a given ``--sample-seed``, chosen from the sorted names so that every run draws the
same ones. ``--undetected --sample N`` names the sampled mutants not yet detected (``mutmut run``
them), and the table then scores the sample, with its 95% Wilson interval: an estimate of the
module's score when a full pass takes longer than there is time for (Wong and Mathur, "Reducing
the cost of mutation testing", 1995: a random few percent of the mutants already rank test sets
as the full set does).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import random
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


def sample(results: dict[str, dict[str, str]], size: int, seed: int) -> dict[str, dict[str, str]]:
    """The same ``size`` mutants of each module for a given seed (all of a smaller module)."""
    chosen = {}
    for source, statuses in results.items():
        names = sorted(statuses)
        if len(names) > size:
            names = random.Random(f"{seed}:{source}").sample(names, size)
        chosen[source] = {name: statuses[name] for name in sorted(names)}
    return chosen


def wilson_interval(detected: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion, in percent (Wilson, 1927)."""
    if not total:
        return 0.0, 100.0
    p = detected / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def tally(statuses: dict[str, str]) -> Counter:
    counts = Counter(s if s in COLUMNS else "other" for s in statuses.values())
    counts["total"] = len(statuses)
    counts["detected"] = sum(s in DETECTED for s in statuses.values())
    return counts


def score(counts: Counter) -> float:
    return 100.0 * counts["detected"] / counts["total"] if counts["total"] else 100.0


def format_table(results: dict[str, dict[str, str]], sampled_from: dict[str, int] | None = None) -> str:
    """The table; with ``sampled_from`` (each module's number of mutants) the rows score a
    sample, and each gets the module's size and the 95% interval of its score."""
    head = f"{'module':<32}{'total':>7}" + "".join(f"{c:>13}" for c in COLUMNS) + f"{'score':>9}"
    if sampled_from is not None:
        head += f"{'of':>7}{'95% interval':>16}"
    lines = [head, "-" * len(head)]
    everything: dict[str, str] = {}
    for source, statuses in results.items():
        everything.update(statuses)
        lines.append(_row(source, tally(statuses), sampled_from and sampled_from[source]))
    total = sum(sampled_from.values()) if sampled_from is not None else None
    lines += ["-" * len(head), _row("total", tally(everything), total)]
    return "\n".join(lines)


def _row(name: str, counts: Counter, sampled_from: int | None = None) -> str:
    row = (f"{name:<32}{counts['total']:>7}" + "".join(f"{counts[c]:>13}" for c in COLUMNS)
           + f"{score(counts):>8.1f}%")
    if sampled_from is not None:
        low, high = wilson_interval(counts["detected"], counts["total"])
        row += f"{sampled_from:>7}{f'{low:.1f}-{high:.1f}%':>16}"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="mutant names or glob patterns, as for `mutmut run`")
    parser.add_argument("--min", type=float, default=0.0,
                        help="fail when any module or the total scores below this (percent)")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder")
    parser.add_argument("--survivors", action="store_true", help="list every mutant not detected")
    parser.add_argument("--undetected", action="store_true",
                        help="print only the names of the mutants not detected, one a line (to rerun them)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="score the same random N mutants of each module (all of a smaller one)")
    parser.add_argument("--sample-seed", type=int, default=0, help="which random sample (default 0)")
    args = parser.parse_args(argv)

    results = read_results(args.mutants, args.patterns)
    if not results:
        print(f"no mutmut results under {args.mutants}/ for {args.patterns or 'any mutant'}: "
              "run `make mutation` first", file=sys.stderr)
        return 2
    sampled_from = None
    if args.sample is not None:
        if args.sample < 1:
            parser.error("--sample must be at least 1")
        sampled_from = {source: len(statuses) for source, statuses in results.items()}
        results = sample(results, args.sample, args.sample_seed)
    if args.undetected:
        # mutmut reruns a mutant only when its function changes or it is named: after new
        # tests, name the survivors (`make mutation-recheck`).
        print("\n".join(name for statuses in results.values() for name, status in sorted(statuses.items())
                        if status not in DETECTED))
        return 0
    print(format_table(results, sampled_from))
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
