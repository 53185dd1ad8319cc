"""A longer fuzz run of everything that reads untrusted bytes.

Runs the contracts of ``tests/fuzz_cases.py`` with many random cases (not
derandomized, unlike the test suite), under a 2 GiB address-space limit so a
huge allocation fails loudly, and prints how many cases ran and how many
failed, per target and in all.

    python tools/fuzz.py                 # 2,000 random cases per target
    python tools/fuzz.py --examples 20000
"""

from __future__ import annotations

import argparse
import collections
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzz_cases as fc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="random cases per target")
    args = parser.parse_args()
    limit = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    tmp = Path(tempfile.mkdtemp(prefix="digitnet-fuzz-"))
    model_bytes = fc.model_seed(tmp)
    counts: dict[str, collections.Counter] = {}
    run = settings(max_examples=args.examples, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))

    def target(name, strategy, check):
        tally = counts.setdefault(name, collections.Counter())

        @run
        @given(strategy)
        def property_(value):
            tally["cases"] += 1
            try:
                check(value)
            except Exception:
                tally["failures"] += 1
                raise

        return property_

    targets = [
        ("idx: random bytes", st.binary(max_size=400), lambda d: fc.check_idx_bytes(d, tmp / "r.idx")),
        ("idx: mutated files", st.one_of(fc.mutated(fc.idx_seed(False)), fc.mutated(fc.idx_seed(True))),
         lambda d: fc.check_idx_bytes(d, tmp / "m.idx")),
        ("idx: absurd headers", fc.absurd_idx_header(), lambda d: fc.check_idx_bytes(d, tmp / "a.idx")),
        ("model: mutated files", fc.mutated(model_bytes), lambda d: fc.check_model_bytes(d, tmp / "m.npz")),
        ("model: random bytes", st.binary(max_size=600),
         lambda d: fc.check_model_bytes(b"PK\x03\x04" + d, tmp / "r.npz")),
        ("image: mutated files",
         st.one_of(*(fc.mutated(fc.image_seed(f)) for f in ("PNG", "JPEG", "GIF", "BMP", "TIFF"))),
         lambda d: fc.check_image_bytes(d, tmp / "m.img")),
        ("image: random bytes", st.binary(max_size=400), lambda d: fc.check_image_bytes(d, tmp / "r.img")),
        ("preprocess: arrays", fc.gray_arrays, fc.check_gray_array),
    ]
    started = time.perf_counter()
    failed = False
    for name, strategy, check in targets:
        try:
            target(name, strategy, check)()
        except Exception as err:  # report and go on to the next target
            failed = True
            print(f"{name}: FAILED: {type(err).__name__}: {str(err)[:300]}")
    # Truncation at every offset, exhaustively.
    for name, seed, check in [
        ("idx: every truncation (raw)", fc.idx_seed(False), lambda d: fc.check_idx_bytes(d, tmp / "t.idx")),
        ("idx: every truncation (gzip)", fc.idx_seed(True), lambda d: fc.check_idx_bytes(d, tmp / "t.idx")),
        ("model: every truncation", model_bytes, lambda d: fc.check_model_bytes(d, tmp / "t.npz")),
        ("image: every truncation (PNG)", fc.image_seed("PNG"),
         lambda d: fc.check_image_bytes(d, tmp / "t.png")),
        ("image: every truncation (JPEG)", fc.image_seed("JPEG"),
         lambda d: fc.check_image_bytes(d, tmp / "t.jpg")),
    ]:
        tally = counts.setdefault(name, collections.Counter())
        for cut in range(len(seed)):
            tally["cases"] += 1
            try:
                check(seed[:cut])
            except Exception as err:  # report the cut and go on
                tally["failures"] += 1
                failed = True
                print(f"{name}: FAILED at {cut}: {type(err).__name__}: {err}")
    total = sum(c["cases"] for c in counts.values())
    failures = sum(c["failures"] for c in counts.values())
    for name, tally in counts.items():
        print(f"{name:<34} {tally['cases']:>7} cases  {tally['failures']} failures")
    print(f"{'total':<34} {total:>7} cases  {failures} failures  ({time.perf_counter() - started:.0f} s)")
    return 1 if failed or failures else 0


if __name__ == "__main__":
    sys.exit(main())
