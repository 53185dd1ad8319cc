"""digitnet against PyTorch, scikit-learn and the literal seed code, side by side.

Everything here runs in one process, on the same MNIST training images (the
55,000 left after the validation split; all 60,000 for the seed recipe), with
the same architecture, batch size and optimizer settings, and 2 threads for
every library. Timings of the contenders alternate (one epoch of each, then
again), so that a noisy neighbour on a shared machine slows them alike; each
figure is the median of several repetitions after a warm-up.

    python bench/bench.py --out bench/results/default.json
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench.py --out bench/results/unset.json
    python bench/report.py bench/results/default.json bench/results/unset.json

``make bench`` does all three. Peak memory is measured in separate processes
(bench/memory_probe.py), since a process's peak only ever grows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from digitnet import TrainConfig, load_dataset, preset, train  # noqa: E402
from digitnet.hooks import OnEpochEnd  # noqa: E402
from digitnet.model import Architecture, build_mlp  # noqa: E402
from digitnet.train import loss_and_accuracy  # noqa: E402

from peers import SeedLiteral, SklearnTrainer, TorchTrainer, seed_parameters_from  # noqa: E402

THREADS = 2
PAUSE = 0.5  # seconds of quiet before each timed run
SEED_NET, WIDE_NET = (50, 50, 50), (512, 512)


def flops_per_example(hidden, skip_first_input_grad=True) -> tuple[int, int]:
    """(useful, actually run) multiply-add FLOPs of one training example.

    Useful: 6 x sum(fan_in x fan_out) (forward, weight gradient, input
    gradient). Actually run: digitnet skips the first layer's input gradient.
    """
    sizes = (784, *hidden, 10)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    useful = 6 * weights
    return useful, useful - (2 * sizes[0] * sizes[1] if skip_first_input_grad else 0)


class CeilingProbe:
    """The machine's float32 matrix-multiply rate (GFLOP/s): the best of three large shapes.

    Called between the contenders' passes, each call appends that moment's
    rate to ``rates``: this machine's speed drifts from minute to minute, so
    the share of the ceiling compares digitnet's rate with the ceiling
    measured in the same rounds, not only at the start of the run.
    """

    SHAPES = ((2048, 784, 512), (2048, 512, 512), (2048, 2048, 2048))

    def __init__(self, repeats: int = 3):
        rng = np.random.default_rng(0)
        self.cases = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32),
                       np.empty((m, n), np.float32)) for m, k, n in self.SHAPES]
        self.repeats = repeats
        self.rates: list[float] = []

    def by_shape(self) -> dict[str, float]:
        """One measurement of each shape: ``repeats`` multiplies, their mean rate."""
        rates = {}
        for a, b, out in self.cases:
            start = time.perf_counter()
            for _ in range(self.repeats):
                np.matmul(a, b, out=out)
            seconds = (time.perf_counter() - start) / self.repeats
            rates["x".join(map(str, (a.shape[0], a.shape[1], b.shape[1])))] = \
                2 * a.shape[0] * a.shape[1] * b.shape[1] / seconds / 1e9
        return rates

    def __call__(self) -> None:
        self.rates.append(max(self.by_shape().values()))


def matmul_ceiling(reps: int = 10) -> dict:
    """The ceiling at the start of the run: each shape's best of ``reps`` single multiplies."""
    probe = CeilingProbe(repeats=1)
    best: dict[str, float] = {}
    for i in range(reps + 3):
        measured = probe.by_shape()
        if i >= 3:  # three warm-up rounds
            best = {shape: max(rate, best.get(shape, 0.0)) for shape, rate in measured.items()}
    return {"gflops": max(best.values()), "by_shape": best}


def digitnet_config(hidden, batch_size) -> TrainConfig:
    """digitnet's side of the epoch and throughput comparisons: Adam 1e-3, constant rate.

    :func:`alternate` sets the number of epochs.
    """
    return TrainConfig(hidden=hidden, batch_size=batch_size, optimizer="adam", lr=1e-3,
                       schedule="constant", patience=None, validation_size=0)


def without_validation(data):
    """The same training images with no validation set (no validation pass to time)."""
    return dataclasses.replace(data, x_val=data.x_val[:0], y_val=data.y_val[:0])


def alternate(config: TrainConfig, data, peers: dict, reps: int) -> dict:
    """Time digitnet's epochs and each peer's, alternating; the first round is warm-up.

    digitnet trains ``reps + 1`` epochs in one call of its own ``train()``, so
    its work arrays and optimizer state carry over from epoch to epoch, as the
    peers' model and optimizer objects do; each digitnet figure is the epoch's
    own recorded time. Between two of its epochs (in an ``OnEpochEnd`` hook,
    which runs after the epoch's seconds are recorded, so that timer does not
    count it), every peer runs one timed epoch, in an order that rotates from
    round to round. Each run starts after a short pause: thread pools
    (OpenMP's, OpenBLAS's) keep spinning for a while after their last job,
    which would otherwise slow whoever runs next.
    """
    times = {"digitnet": [], **{name: [] for name in peers}}
    names = list(peers)

    def peers_between(record, model):
        round_ = len(times["digitnet"])
        times["digitnet"].append(record["seconds"])
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            time.sleep(PAUSE)
            start = time.perf_counter()
            peers[name]()
            times[name].append(time.perf_counter() - start)
        time.sleep(PAUSE)

    time.sleep(PAUSE)
    train(dataclasses.replace(config, epochs=reps + 1), without_validation(data), [OnEpochEnd(peers_between)])
    return {name: {"median": statistics.median(t[1:]), "all": t[1:]} for name, t in times.items()}


def epoch_benchmarks(data, reps) -> dict:
    results = {}
    n = len(data.x_train)
    for label, hidden in [("seed network 784-50-50-50-10", SEED_NET), ("wide 784-512-512-10", WIDE_NET)]:
        torch_default = TorchTrainer(data.x_train, data.y_train, hidden)
        torch_fused = TorchTrainer(data.x_train, data.y_train, hidden, fused=True)
        sklearn = SklearnTrainer(data.x_train, data.y_train, hidden)
        timed = alternate(digitnet_config(hidden, 128), data, {
            "pytorch": torch_default.epoch,
            "pytorch fused Adam": torch_fused.epoch,
            "scikit-learn": sklearn.epoch,
        }, reps)
        useful, run = flops_per_example(hidden)
        for entry in timed.values():
            entry["samples_per_s"] = n / entry["median"]
        results[label] = {"hidden": list(hidden), "batch_size": 128, "n_train": n, "epochs": timed,
                          "useful_flops_per_example": useful, "run_flops_per_example": run}
        print(f"{label}: " + ", ".join(f"{k} {v['median']:.3f}s" for k, v in timed.items()), flush=True)
    return results


def throughput_benchmarks(data, reps, samples=16384) -> dict:
    """Samples per second of one training step loop at several batch sizes (wide network)."""
    subset = dataclasses.replace(data, x_train=data.x_train[:samples], y_train=data.y_train[:samples])
    results = {}
    for batch in (32, 128, 512, 2048):
        torch_default = TorchTrainer(subset.x_train, subset.y_train, WIDE_NET, batch_size=batch)
        torch_fused = TorchTrainer(subset.x_train, subset.y_train, WIDE_NET, batch_size=batch, fused=True)
        ceiling = CeilingProbe()
        timed = alternate(digitnet_config(WIDE_NET, batch), subset, {
            "pytorch": torch_default.epoch,
            "pytorch fused Adam": torch_fused.epoch,
            "matmul ceiling": ceiling,
        }, reps)
        del timed["matmul ceiling"]          # its seconds mean nothing; its rates do
        for entry in timed.values():
            entry["samples_per_s"] = samples / entry["median"]
        rates = ceiling.rates[1:]            # the first round is warm-up, as for the others
        timed["matmul ceiling"] = {"gflops": statistics.median(rates), "all": rates}
        results[str(batch)] = timed
        print(f"batch {batch}: " + ", ".join(f"{k} {v['samples_per_s']:.0f}/s" for k, v in timed.items()
                                             if "samples_per_s" in v)
              + f"; ceiling in the same rounds {timed['matmul ceiling']['gflops']:.0f} GFLOP/s", flush=True)
    return results


def seed_benchmark(iterations: int, timing_iterations: int = 10) -> dict:
    """The seed preset against the literal seed code: time per iteration, and the costs."""
    data = load_dataset("mnist", validation_size=0)
    config = preset("seed")
    # Identical starting weights: the ones digitnet's seed preset draws, given to both.
    start = build_mlp(Architecture(hidden=SEED_NET), np.random.default_rng(config.seed))
    literal_params = seed_parameters_from(start)

    ours, literal_times, literal_costs = [], [], []
    literal = SeedLiteral(data.x_train, data.y_train, literal_params)
    # Time: alternate blocks of iterations of each.
    for _ in range(3):
        result = train(dataclasses.replace(config, epochs=timing_iterations), data)
        ours += [h["seconds"] for h in result.history[1:]]
        for _ in range(timing_iterations):
            t = time.perf_counter()
            literal.iteration()
            literal_times.append(time.perf_counter() - t)
    # Costs: the full recipe, both from the same start, compared at every 100th iteration.
    full = train(dataclasses.replace(config, epochs=iterations), data)
    ours_costs = [h["train_loss"] for h in full.history]
    literal = SeedLiteral(data.x_train, data.y_train, literal_params)
    for i in range(iterations):
        cost = literal.iteration()
        if i % 100 == 0:
            literal_costs.append(cost)
    ours_every_100 = ours_costs[::100]
    rel = [abs(a - b) / abs(b) for a, b in zip(ours_every_100, literal_costs)]
    print(f"seed: digitnet {statistics.median(ours):.4f}s/it, "
          f"literal {statistics.median(literal_times):.4f}s/it, "
          f"max rel cost diff {max(rel):.2e}", flush=True)
    return {"iterations": iterations, "digitnet_s_per_iteration": statistics.median(ours),
            "literal_s_per_iteration": statistics.median(literal_times),
            "digitnet_costs_every_100": ours_every_100, "literal_costs_every_100": literal_costs,
            "max_relative_cost_difference": max(rel),
            "digitnet_test_accuracy": loss_and_accuracy(full.model, data.x_test, data.y_test)[1]}


def time_to_accuracy(data, target=0.98) -> dict:
    """Training seconds until the test accuracy first reaches ``target``, default preset.

    The test set is used here only to measure a speed, never to choose anything.
    """
    config = preset("quick")
    reached = {"digitnet": None}
    elapsed = {"s": 0.0}
    curve = []

    def on_epoch(record, model):
        elapsed["s"] += record["seconds"]
        accuracy = loss_and_accuracy(model, data.x_test, data.y_test)[1]
        curve.append((elapsed["s"], accuracy))
        if accuracy >= target and reached["digitnet"] is None:
            reached["digitnet"] = elapsed["s"]

    # No validation set: its pass would count in digitnet's epoch time and
    # PyTorch's loop has none. Both train on the same 55,000 images.
    train(dataclasses.replace(config, patience=None), without_validation(data), [OnEpochEnd(on_epoch)])

    torch_run = TorchTrainer(data.x_train, data.y_train, config.hidden, batch_size=config.batch_size,
                             lr=config.lr, dropout=config.dropout, schedule_epochs=config.epochs,
                             x_test=data.x_test, y_test=data.y_test)
    seconds, torch_curve, torch_reached = 0.0, [], None
    for _ in range(config.epochs):
        t = time.perf_counter()
        torch_run.epoch()
        seconds += time.perf_counter() - t
        accuracy = torch_run.test_accuracy()
        torch_curve.append((seconds, accuracy))
        if accuracy >= target and torch_reached is None:
            torch_reached = seconds
    print(f"time to {target:.1%}: digitnet {reached['digitnet']}, pytorch {torch_reached}", flush=True)
    recipe = (f"quick preset: 784-{'-'.join(map(str, config.hidden))}-10, dropout {config.dropout}, "
              f"Adam {config.lr:g}, cosine over {config.epochs} epochs, batch {config.batch_size}")
    return {"target": target, "recipe": recipe, "digitnet_s": reached["digitnet"], "pytorch_s": torch_reached,
            "digitnet_curve": curve, "pytorch_curve": torch_curve}


def memory_benchmarks() -> dict:
    """Peak RSS of each contender, each in a fresh process."""
    results = {}
    for case in ["digitnet-quick", "digitnet-seed", "literal-seed", "digitnet-wide", "pytorch-wide",
                 "sklearn-wide"]:
        out = subprocess.run([sys.executable, str(HERE / "memory_probe.py"), case],
                             capture_output=True, text=True, check=True)
        results[case] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
        print(f"peak RSS {case}: {results[case]:.0f} MB", flush=True)
    return results


def environment() -> dict:
    import sklearn
    import torch

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "torch": torch.__version__, "sklearn": sklearn.__version__,
        "threads": THREADS, "torch_threads": torch.get_num_threads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "blas": [{k: v for k, v in info.items() if k in ("internal_api", "version", "architecture",
                                                          "num_threads", "prefix")}
                 for info in threadpool_info()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions after warm-up")
    parser.add_argument("--seed-iterations", type=int, default=1000)
    parser.add_argument("--label", default="")
    parser.add_argument("--parts", default="epochs,throughput,seed,time_to_98,memory",
                        help="comma-separated parts to run; others are kept from an existing --out file")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    import torch

    torch.set_num_threads(THREADS)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    with threadpool_limits(THREADS):
        data = load_dataset("mnist")
        results.update({"label": args.label, "environment": environment()})
        results.setdefault("commands", {})
        for part in parts:
            results["commands"][part] = " ".join(sys.argv)
        print(json.dumps(results["environment"]), flush=True)
        results["ceiling"] = matmul_ceiling()
        print(f"float32 matmul ceiling: {results['ceiling']['gflops']:.0f} GFLOP/s", flush=True)
        if "epochs" in parts:
            results["epochs"] = epoch_benchmarks(data, args.reps)
        if "throughput" in parts:
            results["throughput"] = throughput_benchmarks(data, args.reps)
        if "seed" in parts:
            results["seed"] = seed_benchmark(args.seed_iterations)
        if "time_to_98" in parts:
            results["time_to_98"] = time_to_accuracy(data)
    if "memory" in parts:
        results["memory"] = memory_benchmarks()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
