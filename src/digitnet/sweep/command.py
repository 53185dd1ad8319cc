"""``digitnet sweep``: the flags, the sweep folder's definition, and the run.

::

    digitnet sweep --preset quick --epochs 5 --grid lr=1e-3,2e-3 --grid hidden=512x256,1024x1024 --seeds 0,1,2
    digitnet sweep --file sweep.toml --scheduler tcp://10.0.0.5:8786 --out /shared/sweeps/lr
    digitnet sweep --search tpe --trials 30 --grid lr=1e-4..1e-2:log --grid dropout=0..0.5
    digitnet sweep --resume sweeps/quick-20261129-120000
    digitnet sweep --summary sweeps/quick-20261129-120000
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import time
from pathlib import Path

from .. import __version__
from ..config import PRESETS, TrainConfig, preset
from ..errors import ConfigError
from ..fileio import atomic_open, interrupt_when_written, write_json
from .engine import check_scheduler_address, executor, require_dask, run_trials
from .results import RESULTS, read_records
from .searches import TPESearch, grid_search, random_search, require_optuna
from .space import SEARCHES, Space, as_json, display, parse_grid_flag, parse_seeds, read_sweep_file
from .summary import markdown_table
from .trial import make_spec

DEFINITION, SUMMARY, PLOT, TRIALS = "sweep.json", "summary.md", "accuracy.png", "trials"
FORMAT = "digitnet-sweep"


def add_parser(commands, config_flags) -> None:
    """The ``sweep`` subcommand; ``config_flags(parser, skip)`` adds one flag per TrainConfig field."""
    sweep = commands.add_parser(
        "sweep",
        help="train many configurations and seeds on Dask; rank them on validation accuracy",
        description="Train every configuration of a grid (or random/TPE search) once per seed, on a Dask "
        "cluster (local by default), and rank the configurations by mean validation accuracy.",
    )
    sweep.add_argument(
        "--preset", choices=sorted(PRESETS), help="the configuration swept around (default quick)"
    )
    sweep.add_argument(
        "--file",
        type=Path,
        metavar="TOML",
        help="a sweep file: preset, seeds, search, trials, "
        "[set] and [grid] (flags given as well take precedence)",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=VALUES",
        help="a swept field: lr=1e-3,2e-3 or hidden=512x256,1024x1024; a range lr=1e-4..1e-2:log "
        "for --search random or tpe (repeat for more fields)",
    )
    sweep.add_argument("--seeds", help="seeds for every configuration: 0,1,2 or 0-4 (default 0)")
    sweep.add_argument("--search", choices=SEARCHES, help="grid (default), random, or tpe (Optuna)")
    sweep.add_argument("--trials", type=int, metavar="N", help="configurations to try (random and tpe)")
    sweep.add_argument(
        "--search-seed",
        type=int,
        default=0,
        metavar="S",
        help="seeds the random draws and TPE's sampler (default 0)",
    )
    sweep.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local Dask cluster (default: one per core); "
        "1 runs the trials in this process, without Dask",
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, tcp://HOST:PORT, instead of a local cluster (--out "
        "must be on a filesystem its workers share)",
    )
    sweep.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS threads per trial (default 1; recorded with each result)",
    )
    sweep.add_argument(
        "--data-dir", type=Path, help="the data for every trial (as digitnet train --data-dir)"
    )
    sweep.add_argument("--out", type=Path, help="the sweep folder (default sweeps/<preset>-<time>)")
    sweep.add_argument(
        "--resume",
        type=Path,
        metavar="SWEEP_DIR",
        help="run what an interrupted sweep has not finished (its own settings)",
    )
    sweep.add_argument("--retry-failed", action="store_true", help="with --resume: run failed trials again")
    sweep.add_argument("--summary", type=Path, metavar="SWEEP_DIR", help="print a sweep's table and stop")
    fixed = sweep.add_argument_group("fixed settings", "any training flag, applied to every trial")
    config_flags(fixed, skip=("seed",))


def cmd_sweep(args: argparse.Namespace) -> int:
    for flag, least in (("workers", 1), ("threads", 1), ("search_seed", 0)):
        if getattr(args, flag) is not None and getattr(args, flag) < least:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least {least}")
    if args.summary is not None:
        _only_with(args, "--summary", allowed=())
        definition = _read_definition(args.summary)
        print(_summarise(args.summary, definition, read_records(args.summary / RESULTS)))
        return 0
    # Everything that can be checked is checked before the sweep folder is made: a mistake
    # leaves nothing behind that would then need --resume.
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    if args.resume is not None:
        _only_with(args, "--resume", allowed=("workers", "scheduler", "retry_failed"))
        out, definition = args.resume, _read_definition(args.resume)
    else:
        definition = _define(args)
        require_dask(args.workers, args.scheduler)
        out = args.out or Path("sweeps") / f"{definition['preset']}-{time.strftime('%Y%m%d-%H%M%S')}"
        if (out / DEFINITION).exists():
            raise ConfigError(f"{out} already holds a sweep: continue it with --resume {out}")
        try:
            write_json(out / DEFINITION, definition)
        except OSError as err:
            raise ConfigError(f"{out}: cannot write the sweep folder there ({err.strerror or err})") from None
    return _run(out, definition, args)


def _only_with(args: argparse.Namespace, mode: str, allowed: tuple[str, ...]) -> None:
    """Refuse flags that ``--resume`` (the sweep's own settings) or ``--summary`` would ignore."""
    defaults = {"grid": [], "search_seed": 0, "threads": 1, "retry_failed": False}
    flags = [
        "file",
        "grid",
        "seeds",
        "search",
        "trials",
        "search_seed",
        "workers",
        "scheduler",
        "threads",
        "data_dir",
        "out",
        "retry_failed",
        "preset",
        "resume" if mode == "--summary" else "summary",
    ]
    flags += [f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("seed", "preset")]
    given = [f for f in flags if f not in allowed and getattr(args, f, None) not in (None, defaults.get(f))]
    if given:
        what = (
            "continues a sweep with its own settings" if mode == "--resume" else "only prints a sweep's table"
        )
        others = ", ".join("--" + a.replace("_", "-") for a in allowed) or "nothing else"
        raise ConfigError(
            f"{mode} {what}: --{given[0].replace('_', '-')} cannot be given with it (only {others})"
        )


def _define(args: argparse.Namespace) -> dict:
    """The sweep's definition from the sweep file and the flags (flags win)."""
    found = read_sweep_file(args.file) if args.file else {}
    name = args.preset or found.get("preset", "quick")
    fixed = found["space"].fixed if found else {}
    axes = dict(found["space"].axes) if found else {}
    # Flags win over the sweep file: a field fixed by a flag is no longer swept, and the reverse.
    flag_fixed = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ("seed", "preset") and getattr(args, f.name, None) is not None
    }
    if flag_fixed.get("patience") == 0:  # as digitnet train: --patience 0 turns early stopping off
        flag_fixed["patience"] = None
    flag_axes: dict = {}
    for text in args.grid:
        field, axis = parse_grid_flag(text)
        if field in flag_axes:
            raise ConfigError(f"--grid gives {field} twice: list its values in one flag ({field}=V1,V2)")
        flag_axes[field] = axis
    both = sorted(set(flag_fixed) & set(flag_axes))
    if both:
        raise ConfigError(
            f"{', '.join(both)}: both fixed (--{both[0].replace('_', '-')}) and swept (--grid); "
            "give each field one way"
        )
    fixed = {k: v for k, v in fixed.items() if k not in flag_axes}
    fixed.update({k: list(v) if isinstance(v, tuple) else v for k, v in flag_fixed.items()})
    axes = {k: v for k, v in axes.items() if k not in flag_fixed}
    axes.update(flag_axes)
    if args.data_dir is not None and not args.data_dir.exists():
        raise ConfigError(f"--data-dir {args.data_dir}: no such file or folder")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else found.get("seeds", [0])
    search = args.search or found.get("search", "grid")
    trials = args.trials if args.trials is not None else found.get("trials")
    if search not in SEARCHES:
        raise ConfigError(f"search {search!r}: choose grid, random or tpe")
    if search == "grid" and trials is not None:
        raise ConfigError("--trials sets the budget of --search random or tpe; a grid runs every combination")
    if search != "grid" and (not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"--search {search} needs --trials N (configurations to try)")
    if search != "grid" and not axes:
        raise ConfigError(f"--search {search} needs fields to search: --grid lr=1e-4..1e-2:log")
    base = TrainConfig.from_dict({**preset(name).to_dict(), **fixed}).to_dict()
    if not base["validation_size"]:
        raise ConfigError(
            f"preset {name} trains on every training image (validation size 0); a sweep chooses "
            "on the validation split: add --validation-size 5000"
        )
    space = Space(fixed, axes, seeds)
    definition = {
        "format": FORMAT,
        "format_version": 1,
        "digitnet_version": __version__,
        "preset": name,
        "base": base,
        "space": space.to_dict(),
        "search": search,
        "trials": trials,
        "search_seed": args.search_seed,
        "threads": args.threads,
        "data_dir": str(args.data_dir.resolve()) if args.data_dir else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _search(definition, Path("."), dry_run=True)  # every configuration checked before anything runs
    for params in space.corners():  # random and TPE: every value and both ends of every range
        make_spec(Path("."), base, as_json(params), seeds[0], None, args.threads)
    if search == "tpe":
        require_optuna()
    return definition


def _read_definition(folder: Path) -> dict:
    import json

    path = folder / DEFINITION
    try:
        definition = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"{path}: not found (is {folder} a sweep folder?)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(definition, dict) or definition.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a digitnet sweep definition")
    needed = ("preset", "base", "space", "search", "trials", "search_seed", "threads", "data_dir")
    missing = [key for key in needed if key not in definition]
    if missing:
        raise ConfigError(f"{path}: not a whole sweep definition (no {', '.join(missing)})")
    return definition


def _search(definition: dict, out: Path, dry_run: bool = False):
    space = Space.from_dict(definition["space"])
    trial_dir = out.resolve() / TRIALS

    def make(params: dict, seed: int) -> dict:
        return make_spec(
            trial_dir, definition["base"], params, seed, definition["data_dir"], definition["threads"]
        )

    kind, trials, seed = definition["search"], definition["trials"], definition["search_seed"]
    if kind == "grid":
        return grid_search(space, make)
    if kind == "random":
        return random_search(space, trials, seed, make)
    if dry_run:  # TPE suggests as it goes: Space.corners() are checked instead
        return random_search(space, 1, seed, make)
    return TPESearch(space, trials, seed, out, make)


def _run(out: Path, definition: dict, args: argparse.Namespace) -> int:
    search = _search(definition, out)
    records = read_records(out / RESULTS)
    known = {r["id"]: r for r in records if r["status"] == "ok" or not args.retry_failed}
    total = search.total
    with executor(args.workers, args.scheduler, out) as place:
        print(
            f"digitnet {__version__}: sweep of {total} trials ({_describe(definition)}) {place.description}; "
            f"{len(known)} already recorded; writing {out}",
            flush=True,
        )
        finished = [len(known)]

        def show(record: dict) -> None:
            finished[0] += 1
            print(_record_line(record, finished[0], total), flush=True)

        try:
            with signals_as_interrupts():
                run_trials(search, place, out / RESULTS, known, show)
        except KeyboardInterrupt as stop:
            place.cancel()
            recorded = len(read_records(out / RESULTS))
            print(
                f"digitnet: sweep interrupted; {recorded} trial{'s' if recorded != 1 else ''} recorded in "
                f"{out / RESULTS}\nresume with: digitnet sweep --resume {out}",
                file=sys.stderr,
                flush=True,
            )
            return 143 if "SIGTERM" in str(stop) else 130
    records = read_records(out / RESULTS)
    print(_summarise(out, definition, records))
    # A sweep in which no trial finished has nothing to choose from: a failure for scripts too.
    return 0 if any(r["status"] == "ok" for r in records) else 1


@contextlib.contextmanager
def signals_as_interrupts():
    """Ctrl-C and SIGTERM (a cluster's job scheduler, ``timeout``, ``kill``) stop a sweep alike:
    KeyboardInterrupt, held while a file is written (the results, Optuna's journal) so that it
    ends up whole, with "SIGTERM" in its message for the exit status."""

    def interrupt(signum, frame):
        interrupt_when_written("SIGTERM" if signum == signal.SIGTERM else "")

    try:
        previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _describe(definition: dict) -> str:
    space, seeds = definition["space"], len(definition["space"]["seeds"])
    fields = ", ".join(space["axes"]) or "no field"
    what = (
        "grid"
        if definition["search"] == "grid"
        else f"{definition['search']} search, {definition['trials']} draws"
    )
    return (
        f"{what} over {fields}, {seeds} seed{'s' if seeds != 1 else ''} each, preset {definition['preset']}"
    )


def _record_line(record: dict, done: int, total: int) -> str:
    params = " ".join(f"{k}={display(v)}" for k, v in record["params"].items())
    where = f"{record.get('host', '?')}:{record.get('pid', '?')}"
    if record["status"] != "ok":
        return f"[{done}/{total}] failed {params} seed {record['seed']}: {record.get('error')}"
    resumed = (
        f", resumed from epoch {record['resumed_from_epoch']}" if record.get("resumed_from_epoch") else ""
    )
    return (
        f"[{done}/{total}] {params} seed {record['seed']}: validation {100 * record['val_accuracy']:.2f}%, "
        f"{record['epochs']} epochs, {record['seconds']:.1f}s, {record['threads']} BLAS thread(s) on "
        f"{where}{resumed}"
    )


def _summarise(out: Path, definition: dict, records: list[dict]) -> str:
    """The ranking table; also written to ``summary.md`` and drawn in ``accuracy.png``."""
    from ..plots import plot_sweep

    table = markdown_table(records, len(definition["space"]["seeds"]), list(definition["space"]["axes"]))
    with atomic_open(out / SUMMARY, "w") as f:
        f.write(f"# Sweep {out.name}\n\n{_describe(definition)}\n\n{table}\n")
    if any(r["status"] == "ok" for r in records):
        plot_sweep(records, out / PLOT, list(definition["space"]["axes"]))
    return table
