"""Time one Adam step: digitnet's (plain arrays, textbook m and v, in pieces) against 0.1's form.

digitnet 0.1 kept every parameter in one flat array, with Adam's moments
pre-scaled (M = m / (1 - b1), V = v / (1 - b2)): 10 whole-array passes a
step. Today each layer owns its arrays and Adam keeps the textbook m and v
(12 passes), run piece by piece (``digitnet.foreach``). This prints the
median time of a step for the seed network and the wide one, both ways, in
one process: ``python bench/optimizer_step.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from digitnet.optim import Adam

NETWORKS = {"seed 784-50-50-50-10": (784, 50, 50, 50, 10), "wide 784-512-512-10": (784, 512, 512, 10)}


def shapes(sizes):
    return [shape for a, b in zip(sizes[:-1], sizes[1:]) for shape in ((a, b), (b,))]


def flat_prescaled(n: int):
    """digitnet 0.1's step on one flat float32 array of n parameters (a closure)."""
    p, g = np.zeros(n, np.float32), np.full(n, 1e-3, np.float32)
    M, V, work = np.zeros_like(p), np.zeros_like(p), np.empty_like(p)
    t = [0]

    def step():
        t[0] += 1
        b1, b2 = 0.9, 0.999
        root = math.sqrt((1 - b2 ** t[0]) / (1 - b2))
        size, eps = 1e-3 * (1 - b1) / (1 - b1 ** t[0]) * root, 1e-8 * root
        M.__imul__(b1)
        M.__iadd__(g)
        V.__imul__(b2)
        V.__iadd__(np.multiply(g, g, out=work))
        np.sqrt(V, out=work)
        work.__iadd__(eps)
        np.divide(M, work, out=work)
        work.__imul__(size)
        p.__isub__(work)

    return step


def median_us(step, reps: int = 200, rounds: int = 7) -> float:
    for _ in range(30):
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            step()
        times.append((time.perf_counter() - start) / reps * 1e6)
    return float(np.median(times))


def main() -> None:
    rng = np.random.default_rng(0)
    for name, sizes in NETWORKS.items():
        params = [rng.standard_normal(s).astype(np.float32) for s in shapes(sizes)]
        grads = [np.full(s, 1e-3, np.float32) for s in shapes(sizes)]
        adam = Adam(1e-3)
        today = median_us(lambda adam=adam, params=params, grads=grads: adam.step(params, grads))
        before = median_us(flat_prescaled(sum(p.size for p in params)))
        print(f"{name}: textbook in pieces {today:.0f} us, 0.1's flat pre-scaled {before:.0f} us, "
              f"ratio {today / before:.2f}")


if __name__ == "__main__":
    main()
