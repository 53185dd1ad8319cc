"""How well digitnet reads pictures as people take them, kind by kind.

    python tools/picture_kinds.py [MODEL] [--per-kind 40] [--seed 0] [--json]

Every picture is generated from MNIST test digits (which the model reads
correctly as they are), dressed as one kind of photo, and read exactly as
``digitnet predict`` reads a file (``digitnet.recognise.read_picture``). A
picture counts as right when the answer is the digit (or the number), or,
for pictures without a digit, "no digit" or a blank-picture error.
``tests/test_pictures.py`` uses the same generators with accuracy floors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import digitnet as dn  # noqa: E402
from digitnet.errors import ImageError  # noqa: E402
from digitnet.recognise import read_picture  # noqa: E402

H, W = 260, 300            # the size of a generated photo


def mnist_digits(model, n: int = 600):
    """MNIST test digits the model reads right as they are: images (n, 28, 28) in [0, 1], labels."""
    data = dn.load_dataset("mnist", REPO / "data" / "mnist", validation_size=0, splits=("test",))
    x, y = data.x_test[:n], data.y_test[:n]
    right = model.predict(x) == y
    return x[right].reshape(-1, 28, 28) / 255.0, y[right]


def enlarge(ink28: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    small = Image.fromarray((ink28 * 255).astype(np.uint8))
    return np.asarray(small.resize((side, side), Image.Resampling.BICUBIC)) / 255.0


def on_paper(ink28, rng, paper=0.92, ink=0.1, scale=6, size=(H, W), noise=0.015):
    """A digit's ink on paper of brightness ``paper``, the ink at ``ink``, somewhere near the middle."""
    big = enlarge(ink28, 28 * scale)
    canvas = np.zeros(size)
    top = (size[0] - big.shape[0]) // 2 + int(rng.integers(-20, 20))
    left = (size[1] - big.shape[1]) // 2 + int(rng.integers(-30, 30))
    canvas[top:top + big.shape[0], left:left + big.shape[1]] = big
    return np.clip(paper + (ink - paper) * canvas + rng.normal(0, noise, size), 0, 1)


def lighting(kind: str, rng) -> np.ndarray:
    """A light field over the page: 1 = fully lit."""
    cols, rows = np.linspace(0, 1, W)[None, :], np.linspace(0, 1, H)[:, None]
    if kind == "ramp":
        return np.broadcast_to(1.0 - 0.65 * cols, (H, W))
    if kind == "vignette":
        return 1.0 - 1.2 * ((cols - 0.5) ** 2 + (rows - 0.5) ** 2)
    if kind == "shadow edge":                   # a sharp shadow's border across the page
        at = rng.uniform(0.15, 0.3) if rng.random() < 0.5 else rng.uniform(0.7, 0.85)
        return np.where(cols + 0 * rows < at, 1.0, 0.5)
    raise ValueError(kind)


def cell(ink28, rng, empty=False, shift=0.0):
    """A digit cut from a form: the cell's lines at (or, ``shift`` inside) the edges."""
    side = 28 * 3 + 40
    picture = np.ones((side, side))
    if not empty:
        picture[20:20 + 84, 20:20 + 84] -= 0.9 * enlarge(ink28, 84)
    t = int(rng.integers(1, 4))
    at = int(rng.integers(0, 4)) + int(shift * side)
    picture[at:at + t, :] = 0.1
    picture[:, at:at + t] = 0.1
    picture[:, side - at - t:side - at] = 0.1
    if rng.random() < 0.5:
        picture[side - at - t:side - at, :side // 2] = 0.1
    return np.clip(picture + rng.normal(0, 0.01, picture.shape), 0, 1)


def number(images, rng, gap=None, height=None, slant=0.0):
    """Digits side by side on white paper (``gap`` in pixels; negative: touching)."""
    height = height or int(rng.integers(60, 140))
    gap = int(rng.integers(int(0.1 * height), int(0.4 * height))) if gap is None else gap
    pieces = []
    for d in images:
        p = enlarge(d, height)
        cols = np.flatnonzero(p.max(axis=0) > 0.2)
        pieces.append(p[:, cols[0]:cols[-1] + 1])
    width = sum(p.shape[1] for p in pieces) + gap * (len(pieces) - 1) + 2 * height
    ink = np.zeros((2 * height, width))
    left = height
    for p in pieces:
        place = (slice(height // 2, height // 2 + height), slice(left, left + p.shape[1]))
        ink[place] = np.maximum(ink[place], p)
        left += p.shape[1] + gap
    if slant:
        from scipy import ndimage

        ink = ndimage.affine_transform(ink, [[1, 0], [slant, 1]], offset=[0, -slant * height], order=1)
    return np.clip(1.0 - 0.9 * ink + rng.normal(0, 0.01, ink.shape), 0, 1)


def kinds(x, y, rng, per_kind: int):
    """(kind, picture, expected) triples: expected is a digit, a number string, or None (no digit)."""
    pick = lambda: int(rng.integers(len(x)))  # noqa: E731
    for _ in range(per_kind):
        k = pick()
        yield "clean", on_paper(x[k], rng), int(y[k])
    for paper in (0.95, 0.75, 0.55, 0.35, 0.2):                # dark pen, paper from white to dark grey
        for _ in range(per_kind // 5):
            k = pick()
            yield "dim paper", on_paper(x[k], rng, paper=paper, ink=0.15 * paper), int(y[k])
    for board in (0.05, 0.25, 0.45, 0.65, 0.8):                # chalk, board from black to light grey
        for _ in range(per_kind // 5):
            k = pick()
            yield "light on dark", on_paper(x[k], rng, paper=board, ink=min(1.0, board + 0.6)), int(y[k])
    for light in ("ramp", "vignette", "shadow edge"):
        for _ in range(per_kind // 3):
            k = pick()
            yield "shadow", on_paper(x[k], rng) * lighting(light, rng), int(y[k])
    for _ in range(per_kind):
        k = pick()
        yield "grid cell", cell(x[k], rng), int(y[k])
    for _ in range(per_kind // 2):
        yield "empty cell", cell(x[0], rng, empty=True, shift=float(rng.choice([0.0, 0.12]))), None
    for _ in range(per_kind // 2):
        yield "blank page", np.clip(0.92 * lighting(str(rng.choice(["ramp", "vignette", "shadow edge"])), rng)
                                    + rng.normal(0, 0.015, (H, W)), 0, 1), None
    for _ in range(per_kind // 2):
        picture = np.full((280, 280), 0.95)
        r = int(rng.integers(4, 14))
        cy, cx = (int(v) for v in rng.integers(70, 210, 2))
        yy, xx = np.ogrid[:280, :280]
        if rng.random() < 0.5:
            picture[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 0.05          # a tap
        else:
            picture[cy - r // 2:cy + r // 2 + 1, cx - 5 * r:cx + 5 * r] = 0.05    # a dash
        yield "dot or dash", picture, None
    for _ in range(per_kind):
        n = int(rng.integers(2, 7))
        chosen = rng.choice(len(x), n, replace=False)
        slant = float(rng.choice([0.0, 0.15, -0.15]))
        picture = number(x[chosen], rng, slant=slant)
        yield "number", picture, "".join(str(int(v)) for v in y[chosen])
    for _ in range(per_kind // 2):                             # two digits touching
        chosen = rng.choice(len(x), 2, replace=False)
        picture = number(x[chosen], rng, gap=-int(rng.integers(0, 4)))
        yield "touching pair", picture, "".join(str(int(v)) for v in y[chosen])


def read(model, picture, expected):
    """Whether the reading is the expected answer."""
    try:
        result = read_picture(model, picture, number=isinstance(expected, str))
    except ImageError:
        return expected is None                          # a blank picture: right when there is no digit
    if expected is None:
        return result["status"] == "no digit"
    if isinstance(expected, str):
        return result.get("number") == expected
    return result["status"] == "ok" and result["digit"] == expected


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(REPO / "models" / "mnist-best-augmented.npz"))
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = dn.load_model(args.model)[0]
    x, y = mnist_digits(model)
    rng = np.random.default_rng(args.seed)
    table: dict[str, list[int]] = {}
    for kind, picture, expected in kinds(x, y, rng, args.per_kind):
        right = read(model, picture, expected)
        table.setdefault(kind, [0, 0])
        table[kind][0] += right
        table[kind][1] += 1
    if args.json:
        print(json.dumps({kind: {"right": r, "n": n} for kind, (r, n) in table.items()}))
        return 0
    print(f"| kind | right | of | accuracy |  ({Path(args.model).name}, seed {args.seed})")
    print("|---|---|---|---|")
    for kind, (right, n) in table.items():
        print(f"| {kind} | {right} | {n} | {100 * right / n:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
