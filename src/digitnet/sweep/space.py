"""What a sweep varies: fixed settings, swept fields (choices or ranges) and seeds.

From flags::

    --set epochs=5 --grid lr=1e-3,2e-3 --grid hidden=512x256,1024x1024 --seeds 0,1,2
    --grid lr=1e-4..1e-2:log --grid dropout=0..0.5          (ranges: random or tpe search)

or from a TOML file (``--file sweep.toml``) holding the same::

    preset = "quick"
    seeds = [0, 1, 2]
    search = "grid"                   # or "random", "tpe" (with trials = N)

    [set]                             # fixed for every trial
    epochs = 5

    [grid]                            # a list: choices; a table: a range
    lr = [1e-3, 2e-3]
    hidden = [[512, 256], [1024, 1024]]
    dropout = {low = 0.0, high = 0.5}
    weight_decay = {low = 1e-6, high = 1e-3, log = true}

Any :class:`digitnet.config.TrainConfig` field may be set or swept except
``seed`` (``seeds`` lists them) and ``preset``. A range is sampled
uniformly, or log-uniformly with ``log`` (Optuna's ``suggest_float(...,
log=True)``; Bergstra & Bengio 2012 on random search), as integers for
integer fields.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..errors import ConfigError

NOT_SWEPT = ("seed", "preset")
# Configurations are compared on one validation split of one dataset: these may be set, not swept.
FIXED_ONLY = ("validation_size", "dataset")
SEARCHES = ("grid", "random", "tpe")


@dataclass(frozen=True)
class Choice:
    """Values to try, in order (a grid's axis; a categorical for random and TPE search)."""

    values: tuple


@dataclass(frozen=True)
class Range:
    """A continuous (or integer) interval ``[low, high]``, log-uniform when ``log``."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


Axis = Choice | Range


@dataclass
class Space:
    """The fixed settings, the swept fields and the seeds of a sweep.

    Attributes
    ----------
    fixed : dict of str -> value
        Settings applied to every trial on top of the preset (JSON values: hidden as a list).
    axes : dict of str -> Choice or Range
        The swept fields, in the order given.
    seeds : list of int
        Every configuration is trained once per seed.
    """

    fixed: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)
    seeds: list = field(default_factory=lambda: [0])

    def grid(self) -> list[dict]:
        """Every combination of the choices (the first field varies slowest).

        Raises
        ------
        ConfigError
            If a field is a range: a grid needs lists of values.
        """
        ranges = [name for name, axis in self.axes.items() if isinstance(axis, Range)]
        if ranges:
            raise ConfigError(
                f"{', '.join(ranges)}: a range has no grid; use --search random or tpe "
                "with --trials N, or list values (lr=1e-3,2e-3)"
            )
        names = list(self.axes)
        return [
            dict(zip(names, values)) for values in itertools.product(*(self.axes[n].values for n in names))
        ]

    def sample(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` distinct configurations drawn at random (the same ones for the same generator state).

        Fewer when the space holds fewer (lists of values only): a repeated
        configuration would only train the same thing twice.
        """
        drawn: list[dict] = []
        for _ in range(100 * n):
            if len(drawn) == n:
                break
            params = {name: _draw(axis, rng) for name, axis in self.axes.items()}
            if params not in drawn:
                drawn.append(params)
        return drawn

    def suggest(self, trial: Any) -> dict:
        """A configuration suggested by an Optuna trial (``suggest_float``/``_int``/``_categorical``)."""
        params = {}
        for name, axis in self.axes.items():
            if isinstance(axis, Choice):
                # Optuna's categoricals hold None, bool, int, float or str: hidden sizes go as "512x256".
                labels = [label(v) for v in axis.values]
                params[name] = axis.values[labels.index(trial.suggest_categorical(name, labels))]
            elif axis.integer:
                params[name] = trial.suggest_int(name, int(axis.low), int(axis.high), log=axis.log)
            else:
                params[name] = trial.suggest_float(name, axis.low, axis.high, log=axis.log)
        return params

    def corners(self) -> list[dict]:
        """Configurations that reach every value and both ends of every range, to check before a search.

        All fields at their first value or low end, all at their last value or
        high end, and each field's every value or end with the others at
        their first: one bad value or end shows up before any training.
        """
        ends = {name: list(a.values) if isinstance(a, Choice) else _ends(a) for name, a in self.axes.items()}
        firsts = {name: values[0] for name, values in ends.items()}
        found = [firsts, {name: values[-1] for name, values in ends.items()}]
        found += [{**firsts, name: v} for name, values in ends.items() for v in values[1:]]
        return found

    def to_dict(self) -> dict:
        axes = {
            name: ({"values": list(a.values)} if isinstance(a, Choice) else dataclasses.asdict(a))
            for name, a in self.axes.items()
        }
        return {"fixed": self.fixed, "axes": axes, "seeds": self.seeds}

    @classmethod
    def from_dict(cls, d: dict) -> Space:
        axes = {
            name: Choice(tuple(_freeze(v) for v in a["values"])) if "values" in a else Range(**a)
            for name, a in d["axes"].items()
        }
        return cls(dict(d["fixed"]), axes, list(d["seeds"]))


def _ends(axis: Range) -> list:
    return [int(axis.low), int(axis.high)] if axis.integer else [axis.low, axis.high]


def _draw(axis: Axis, rng: np.random.Generator) -> Any:
    if isinstance(axis, Choice):
        return axis.values[rng.integers(len(axis.values))]
    if axis.log:
        value = math.exp(rng.uniform(math.log(axis.low), math.log(axis.high)))
    else:
        value = rng.uniform(axis.low, axis.high)
    return int(round(value)) if axis.integer else float(value)


def _freeze(value: Any) -> Any:
    """JSON lists (hidden sizes) back to tuples, so that values can be compared and hashed."""
    return tuple(value) if isinstance(value, list) else value


def label(value: Any) -> Any:
    """A value as the flags write it: hidden sizes "512x256", everything else unchanged."""
    return "x".join(str(v) for v in value) if isinstance(value, (tuple, list)) else value


def display(value: Any) -> str:
    """A value for tables and progress lines: floats to 4 significant digits (0.001368), sizes as 512x256."""
    if value is None:
        return "none"  # as the flags write it (patience=none)
    return f"{value:.4g}" if isinstance(value, float) else str(label(value))


def as_json(params: dict) -> dict:
    """Parameters with tuples as lists (JSON, ``TrainConfig.from_dict``)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


# -- reading fields and values -------------------------------------------------------------------


def _field_kind(name: str) -> type:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name not in NOT_SWEPT}
    if name not in fields:
        hint = " (list seeds with --seeds)" if name == "seed" else ""
        raise ConfigError(
            f"{name!r} is not a setting a sweep can vary{hint}; choose from {', '.join(sorted(fields))}"
        )
    default = fields[name].default
    return int if default is None else type(default)  # patience, train_limit: int or None


def parse_value(name: str, value: Any) -> Any:
    """One value of field ``name`` from a flag's text or a TOML value.

    Raises
    ------
    ConfigError
        A value of the wrong kind, naming the field.
    """
    kind = _field_kind(name)
    try:
        if isinstance(value, bool):  # TOML's true/false is no number, size or name
            raise ValueError
        if isinstance(value, str) and value.strip().lower() == "none" and name in ("patience", "train_limit"):
            return None
        if kind is tuple:
            parts = (
                value.split("x") if isinstance(value, str) else ([value] if isinstance(value, int) else value)
            )
            sizes = tuple(int(p) for p in parts)
            if not sizes or min(sizes) < 1:
                raise ValueError
            return sizes
        if kind is bool:
            raise ValueError
        if kind is int:
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        example = {tuple: "512x256", int: "10", float: "1e-3"}.get(kind, "a name")
        raise ConfigError(f"{name}: {value!r} is not a valid value (expected e.g. {example})") from None


def parse_range(name: str, low: Any, high: Any, log: bool = False) -> Range:
    """A range of a numeric field; ``log`` needs ``low > 0``."""
    kind = _field_kind(name)
    if kind not in (int, float):
        raise ConfigError(f"{name}: a range needs a numeric field; list the values instead")
    lo, hi = parse_value(name, low), parse_value(name, high)
    if not lo < hi:
        raise ConfigError(f"{name}: a range needs low < high, got {low}..{high}")
    if log and lo <= 0:
        raise ConfigError(f"{name}: a log range needs low > 0, got {low}")
    return Range(float(lo), float(hi), log, kind is int)


def _sweepable(name: str) -> str:
    if name in FIXED_ONLY:
        raise ConfigError(
            f"{name} cannot be swept: configurations are ranked on one validation split of one "
            f"dataset (set it for every trial with --{name.replace('_', '-')})"
        )
    return name


def parse_grid_flag(text: str) -> tuple[str, Axis]:
    """``--grid FIELD=V1,V2`` (choices) or ``FIELD=LOW..HIGH[:log]`` (a range)."""
    name, sep, values = text.partition("=")
    name = _sweepable(name.strip().replace("-", "_"))
    if not sep or not values.strip():
        raise ConfigError(
            f"--grid {text!r}: expected FIELD=V1,V2 or FIELD=LOW..HIGH[:log], "
            "e.g. lr=1e-3,2e-3 or hidden=512x256,1024x1024"
        )
    if ".." in values:
        bounds, _, option = values.partition(":")
        if option not in ("", "log"):
            raise ConfigError(f"--grid {text!r}: after a range only ':log' may follow")
        low, _, high = bounds.partition("..")
        return name, parse_range(name, low.strip(), high.strip(), option == "log")
    return name, _choice(name, [parse_value(name, v.strip()) for v in values.split(",")])


def parse_set_flag(text: str) -> tuple[str, Any]:
    """``--set FIELD=VALUE``: one fixed setting."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep:
        raise ConfigError(f"--set {text!r}: expected FIELD=VALUE, e.g. epochs=5")
    return name, parse_value(name, value.strip())


def parse_seeds(text: str) -> list[int]:
    """``0,1,2`` or a range ``0-4`` -> a list of distinct non-negative seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            seeds += list(range(int(first), int(last) + 1)) if dash else [int(first)]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected integers like 0,1,2 or 0-4") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: seeds must be distinct integers >= 0")
    return seeds


def axis_from_toml(name: str, value: Any) -> Axis:
    """A TOML value: a list of choices, or a table ``{low, high, log}``."""
    _sweepable(name)
    if isinstance(value, dict):
        unknown = set(value) - {"low", "high", "log"}
        if unknown or not {"low", "high"} <= set(value) or not isinstance(value.get("log", False), bool):
            raise ConfigError(f"[grid] {name}: a range is {{low = ..., high = ..., log = true|false}}")
        return parse_range(name, value["low"], value["high"], value.get("log", False))
    if not isinstance(value, list) or not value:
        raise ConfigError(f"[grid] {name}: expected a list of values or a {{low, high}} table")
    return _choice(name, [parse_value(name, v) for v in value])


def _choice(name: str, values: list) -> Choice:
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise ConfigError(
            f"{name}: {display(repeated[0])} is listed twice (each value is trained once per seed)"
        )
    return Choice(tuple(values))


def read_sweep_file(path: str | Path) -> dict:
    """A TOML sweep file as ``{preset, seeds, search, trials, space}`` (keys it does not set are absent).

    Raises
    ------
    ConfigError
        Missing file, invalid TOML or unknown keys, naming the file.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError(
                "sweep files need tomli on Python 3.10: pip install 'digitnet[sweep]'"
            ) from None

    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such sweep file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the sweep file ({err.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not a valid TOML file ({err})") from None
    unknown = set(document) - {"preset", "seeds", "search", "trials", "set", "grid"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown keys {sorted(unknown)} (expected preset, seeds, search, trials, [set], [grid])"
        )
    kinds = {"set": dict, "grid": dict, "seeds": list, "preset": str, "search": str, "trials": int}
    wrong = [
        key
        for key, kind in kinds.items()
        if key in document and (not isinstance(document[key], kind) or isinstance(document[key], bool))
    ]
    if wrong:
        expected = {
            "set": "a table [set]",
            "grid": "a table [grid]",
            "seeds": "a list of integers like [0, 1, 2]",
            "preset": "a preset's name",
            "search": '"grid", "random" or "tpe"',
            "trials": "a whole number",
        }
        raise ConfigError(f"{path}: {wrong[0]} must be {expected[wrong[0]]}")
    try:
        fixed = {name: parse_value(name, v) for name, v in document.get("set", {}).items()}
        axes = {name: axis_from_toml(name, v) for name, v in document.get("grid", {}).items()}
        both = sorted(set(fixed) & set(axes))
        if both:  # as the flags: a field is fixed or swept, not both
            raise ConfigError(
                f"{', '.join(both)}: both fixed ([set]) and swept ([grid]); give each field one way"
            )
        found: dict[str, Any] = {"space": Space(as_json(fixed), axes)}
        if "seeds" in document:
            if not all(isinstance(s, int) and not isinstance(s, bool) for s in document["seeds"]):
                raise ConfigError("seeds must be a list of integers like [0, 1, 2]")
            found["seeds"] = parse_seeds(",".join(str(s) for s in document["seeds"]))
        for key in ("preset", "search", "trials"):
            if key in document:
                found[key] = document[key]
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return found
