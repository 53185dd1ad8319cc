"""Which trials a sweep runs: every grid point, random draws, or Optuna's TPE.

A search hands out trial specs (:func:`digitnet.sweep.trial.make_spec`) with
:meth:`ask` and hears how each ended with :meth:`tell`. The grid and random
search know all their trials up front (random draws come from a generator
seeded by the sweep, so a resumed sweep draws the same ones); TPE (Bergstra
et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011, as
implemented by Optuna's ``TPESampler``) asks for the next configuration from
the results so far. Its study lives in the sweep folder (``optuna.journal``,
Optuna's file journal), so ``--resume`` continues it.

Every configuration is trained once per seed; TPE is told the mean
validation accuracy over the seeds (or that the configuration failed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..fileio import uninterrupted
from .space import Space, as_json

JOURNAL = "optuna.journal"
STUDY = "digitnet-sweep"


class FixedSearch:
    """The grid (every combination) or random search (``trials`` draws), all known up front."""

    adaptive = False

    def __init__(self, configurations: list[dict], seeds: list[int], make: Callable[[dict, int], dict]):
        specs = [make(as_json(params), seed) for params in configurations for seed in seeds]
        self.specs = list({spec["id"]: spec for spec in specs}.values())  # each trial once
        self.next = 0

    @property
    def total(self) -> int:
        return len(self.specs)

    def ask(self, n: int) -> list[dict]:
        batch = self.specs[self.next : self.next + n]
        self.next += len(batch)
        return batch

    @property
    def finished(self) -> bool:
        return self.next >= len(self.specs)

    def tell(self, record: dict) -> None:
        pass


def grid_search(space: Space, make: Callable[[dict, int], dict]) -> FixedSearch:
    return FixedSearch(space.grid(), space.seeds, make)


def random_search(space: Space, trials: int, seed: int, make: Callable[[dict, int], dict]) -> FixedSearch:
    return FixedSearch(space.sample(trials, np.random.default_rng(seed)), space.seeds, make)


def require_optuna() -> None:
    """Raise ConfigError (how to install it) when Optuna is missing."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("--search tpe needs Optuna (3.6 or later): pip install 'digitnet[sweep]'") from None


class TPESearch:
    """Optuna's TPE over ``space``, ``trials`` configurations in all, each trained on every seed.

    An Optuna trial left running by an interrupted sweep is marked failed
    and its configuration asked again first, so no budget is lost; its seeds
    that finished are not trained again (the sweep's records hold them).
    """

    adaptive = True

    def __init__(self, space: Space, trials: int, seed: int, folder: Path, make: Callable[[dict, int], dict]):
        require_optuna()
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # Every call into the study below writes or locks the journal: a Ctrl-C inside Optuna's
        # lock release made it raise FileNotFoundError instead (uninterrupted: held until done).
        with uninterrupted():
            storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
            self.study = optuna.create_study(
                storage=storage, study_name=STUDY, direction="maximize", load_if_exists=True
            )
        # Seeded by the sweep and by how far the study got: a resumed sweep must not draw its first
        # (random start-up) suggestions again.
        start = int(np.random.SeedSequence([seed, len(self.study.trials)]).generate_state(1)[0])
        self.study.sampler = optuna.samplers.TPESampler(seed=start)
        self.space, self.make, self.total_configurations = space, make, trials
        self.waiting: dict[str, list] = {}  # spec id -> [(optuna trial, its spec ids)...]
        self.values: dict[int, dict] = {}  # optuna trial number -> {spec id: record}
        running = optuna.trial.TrialState.RUNNING
        with uninterrupted():
            for stale in self.study.get_trials(deepcopy=False, states=(running,)):
                self.study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
                if stale.params:  # (asked but interrupted before any suggestion: nothing to ask again)
                    self.study.enqueue_trial(stale.params, user_attrs={"retry_of": stale.number})

    @property
    def total(self) -> int:
        return self.total_configurations * len(self.space.seeds)

    @property
    def finished(self) -> bool:
        return not self.waiting and self._used() >= self.total_configurations

    def _used(self) -> int:
        """Configurations that count against the budget: finished, failed (not interrupted), or running."""
        import optuna

        states = optuna.trial.TrialState
        with uninterrupted():
            trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        return sum(
            t.state in (states.COMPLETE, states.RUNNING)
            or (t.state == states.FAIL and t.number not in retried and bool(t.params))
            for t in trials
        )

    def ask(self, n: int) -> list[dict]:
        specs: list[dict] = []
        while len(specs) < n and self._used() < self.total_configurations:
            with uninterrupted():
                trial = self.study.ask()
                params = as_json(self.space.suggest(trial))
            batch = [self.make(params, seed) for seed in self.space.seeds]
            ids = tuple(spec["id"] for spec in batch)
            for spec in batch:  # TPE may suggest a configuration again: both Optuna trials wait for it
                self.waiting.setdefault(spec["id"], []).append((trial, ids))
            self.values[trial.number] = {}
            specs += batch
        return specs

    def tell(self, record: dict) -> None:
        import optuna

        for trial, ids in self.waiting.pop(record["id"], []):
            seen = self.values[trial.number]
            seen[record["id"]] = record
            if len(seen) < len(ids):
                continue
            with uninterrupted():
                if all(r["status"] == "ok" and r.get("val_accuracy") is not None for r in seen.values()):
                    self.study.tell(trial, float(np.mean([r["val_accuracy"] for r in seen.values()])))
                else:
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
