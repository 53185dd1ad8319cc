"""Peak resident memory of one contender, in a fresh process: python memory_probe.py CASE.

Prints {"case": ..., "peak_rss_mb": ...} as the last line. Cases:
digitnet-quick (the default preset, 1 epoch, through the real CLI code path),
digitnet-seed / literal-seed (10 full-batch iterations on all 60,000 images),
digitnet-wide / pytorch-wide / sklearn-wide (1 epoch of 784-512-512-10, Adam, batch 128).
"""

import dataclasses
import json
import resource
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(case: str) -> None:
    from threadpoolctl import threadpool_limits

    from digitnet import TrainConfig, load_dataset, preset, train

    threadpool_limits(2)
    if case == "digitnet-quick":
        data = load_dataset("mnist")
        train(dataclasses.replace(preset("quick"), epochs=1), data)
    elif case in ("digitnet-seed", "literal-seed"):
        data = load_dataset("mnist", validation_size=0)
        if case == "digitnet-seed":
            train(dataclasses.replace(preset("seed"), epochs=10), data)
        else:
            from digitnet.model import Architecture, build_mlp

            from peers import SeedLiteral, seed_parameters_from

            start = build_mlp(Architecture(hidden=(50, 50, 50)), np.random.default_rng(0))
            literal = SeedLiteral(data.x_train, data.y_train, seed_parameters_from(start))
            for _ in range(10):
                literal.iteration()
    else:
        data = load_dataset("mnist")
        hidden = (512, 512)
        if case == "digitnet-wide":
            train(TrainConfig(hidden=hidden, epochs=1, schedule="constant", patience=None), data)
        elif case == "pytorch-wide":
            import torch

            from peers import TorchTrainer

            torch.set_num_threads(2)
            TorchTrainer(data.x_train, data.y_train, hidden).epoch()
        elif case == "sklearn-wide":
            from peers import SklearnTrainer

            SklearnTrainer(data.x_train, data.y_train, hidden).epoch()
        else:
            raise SystemExit(f"unknown case {case!r}")
    print(json.dumps({"case": case, "peak_rss_mb": peak_rss_kb() / 1024}))


def peak_rss_kb() -> int:
    """This process's peak resident set size (VmHWM), in kB.

    Not getrusage's ru_maxrss: on Linux that survives exec, so a probe started
    from a big parent would report the parent's size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main(sys.argv[1])
