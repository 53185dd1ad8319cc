"""How well does digitnet read digits that are not from MNIST?

MNIST test accuracy says little about the digit a person draws on a tablet
or photographs on paper. This script makes such digits, then reads each one
exactly as ``digitnet predict`` does (the picture is saved as a PNG and goes
through ``digitnet.preprocess.image_to_input``), and reports the accuracy of
each model by source and by variation:

* fonts: the ten digits in every TrueType font matplotlib ships (DejaVu
  Sans/Serif/Mono, STIX, Computer Modern; upright, bold, italic);
* drawn: digits drawn as pen strokes, each one with its own random wobble,
  slant, proportions and pen width, the way a hand would draw them;

each under several variations: as drawn, small in a big picture, off-centre,
thin or bold strokes, light on dark, turned by 12 degrees.

Usage::

    python tools/own_digits.py models/mnist-best.npz models/mnist-best-augmented.npz \
        [--drawn-per-digit 10] [--sheet own-digits.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitnet.modelfile import load_model
from digitnet.preprocess import image_to_input

CANVAS = 280
VARIATIONS = ("plain", "small", "off-centre", "thin", "bold", "inverted", "rotated")

# Pen strokes for each digit in a unit box (x right, y down).
_t = np.linspace(0, 2 * np.pi, 48)
STROKES = {
    0: [list(zip(0.5 + 0.3 * np.sin(_t), 0.5 - 0.45 * np.cos(_t)))],
    1: [[(0.35, 0.2), (0.56, 0.05), (0.46, 0.95)]],
    2: [[(0.2, 0.3), (0.3, 0.12), (0.5, 0.05), (0.7, 0.12), (0.78, 0.3), (0.68, 0.5),
         (0.2, 0.95), (0.85, 0.95)]],
    3: [[(0.2, 0.12), (0.5, 0.05), (0.76, 0.18), (0.7, 0.4), (0.45, 0.48), (0.75, 0.58),
         (0.8, 0.78), (0.55, 0.95), (0.2, 0.88)]],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.65, 0.3), (0.65, 0.95)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45), (0.55, 0.4), (0.78, 0.55), (0.78, 0.78),
         (0.55, 0.95), (0.2, 0.88)]],
    6: [[(0.7, 0.05), (0.4, 0.25), (0.25, 0.55), (0.27, 0.8), (0.5, 0.95), (0.73, 0.8),
         (0.72, 0.6), (0.5, 0.5), (0.28, 0.62)]],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    8: [list(zip(0.5 + 0.26 * np.sin(2 * _t), 0.5 - 0.45 * np.cos(_t)))],
    9: [list(zip(0.5 + 0.25 * np.cos(_t), 0.3 + 0.25 * np.sin(_t))) + [(0.73, 0.95)]],
}


def fonts() -> list[Path]:
    """Every matplotlib font that has ordinary digits (no symbol fonts)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    skip = ("STIXNonUni", "STIXSiz", "cmex", "cmmi", "cmsy", "LastResort", "Display")
    return sorted(p for p in folder.glob("*.ttf") if not any(s in p.name for s in skip))


def _canvas(ink_on: Image.Image, variation: str, rng: np.random.Generator) -> Image.Image:
    """Place a white-on-black glyph picture on the final canvas as ``variation`` asks."""
    glyph = ink_on
    if variation == "rotated":
        glyph = glyph.rotate(float(rng.choice([-12, 12])), resample=Image.Resampling.BICUBIC, expand=True)
    size = {"small": 0.22, "off-centre": 0.45}.get(variation, 0.7) * CANVAS
    glyph.thumbnail((int(size), int(size)), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    free_x, free_y = CANVAS - glyph.width, CANVAS - glyph.height
    if variation == "off-centre":
        x, y = int(rng.choice([0.05, 0.95]) * free_x), int(rng.choice([0.05, 0.95]) * free_y)
    else:
        x, y = free_x // 2, free_y // 2
    canvas.paste(glyph, (x, y))
    if variation != "inverted":  # everything else is dark ink on white paper
        canvas = Image.eval(canvas, lambda v: 255 - v)
    return canvas


def font_digit(digit: int, font_path: Path, variation: str, rng: np.random.Generator) -> Image.Image:
    """``digit`` typeset in a font, as white-on-black before :func:`_canvas`."""
    font = ImageFont.truetype(str(font_path), 200)
    stroke = {"thin": 0, "bold": 9}.get(variation, 2)
    left, top, right, bottom = font.getbbox(str(digit), stroke_width=stroke)
    glyph = Image.new("L", (right - left + 20, bottom - top + 20), 0)
    ImageDraw.Draw(glyph).text((10 - left, 10 - top), str(digit), fill=255, font=font,
                               stroke_width=stroke, stroke_fill=255)
    return _canvas(glyph, variation, rng)


def drawn_digit(digit: int, variation: str, rng: np.random.Generator) -> Image.Image:
    """``digit`` drawn with wobbly pen strokes, as white-on-black before :func:`_canvas`."""
    side = 400
    slant, aspect = rng.uniform(-0.25, 0.25), rng.uniform(0.7, 1.1)
    width = {"thin": 6, "bold": 44}.get(variation, int(rng.integers(14, 30)))
    glyph = Image.new("L", (side, side), 0)
    pen = ImageDraw.Draw(glyph)
    for stroke in STROKES[digit]:
        points = np.array(stroke, dtype=float)
        points += rng.normal(0, 0.02, points.shape)
        points[:, 0] = 0.5 + (points[:, 0] - 0.5) * aspect + slant * (0.5 - points[:, 1])
        xy = [(60 + x * 280, 60 + y * 280) for x, y in points]
        pen.line(xy, fill=255, width=width, joint="curve")
        for x, y in xy[:1] + xy[-1:]:
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return _canvas(glyph.crop(glyph.getbbox()), variation, rng)


def make_digits(drawn_per_digit: int, seed: int = 0, max_fonts: int | None = None):
    """Yield (source, variation, digit, picture) for the whole evaluation set."""
    rng = np.random.default_rng(seed)
    for variation in VARIATIONS:
        for font_path in fonts()[:max_fonts]:
            for digit in range(10):
                yield "fonts", variation, digit, font_digit(digit, font_path, variation, rng)
        for _ in range(drawn_per_digit):
            for digit in range(10):
                yield "drawn", variation, digit, drawn_digit(digit, variation, rng)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--drawn-per-digit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-fonts", type=int, help="use only the first N fonts (quick checks)")
    parser.add_argument("--sheet", type=Path, help="save the 28x28 inputs as one PNG")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    models = [(path, load_model(path)[0]) for path in args.models]
    keys, labels, inputs = [], [], []
    digits = make_digits(args.drawn_per_digit, args.seed, args.max_fonts)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (source, variation, digit, picture) in enumerate(digits):
            path = Path(tmp) / f"{i}.png"
            picture.save(path)
            inputs.append(image_to_input(path))    # exactly what `digitnet predict` does
            keys.append((source, variation))
            labels.append(digit)
    x, y = np.stack(inputs), np.array(labels)

    results = {}
    for path, model in models:
        correct = model.predict_proba(x.astype(model.dtype)).argmax(axis=1) == y
        table = {}
        for key in sorted(set(keys), key=lambda k: (k[0], VARIATIONS.index(k[1]))):
            chosen = np.array([k == key for k in keys])
            table[f"{key[0]}/{key[1]}"] = {"n": int(chosen.sum()), "accuracy": float(correct[chosen].mean())}
        for source in ("fonts", "drawn"):
            chosen = np.array([k[0] == source for k in keys])
            table[f"{source}/all"] = {"n": int(chosen.sum()), "accuracy": float(correct[chosen].mean())}
        table["all"] = {"n": len(y), "accuracy": float(correct.mean())}
        results[str(path)] = table

    if args.sheet:
        order = np.argsort(y, kind="stable")
        per_row = 40
        tiles = x[order].reshape(-1, 28, 28)
        pad = (-len(tiles)) % per_row
        tiles = np.concatenate([tiles, np.zeros((pad, 28, 28), tiles.dtype)])
        sheet = tiles.reshape(-1, per_row, 28, 28).transpose(0, 2, 1, 3).reshape(-1, per_row * 28)
        Image.fromarray((sheet * 255).astype(np.uint8)).save(args.sheet)

    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    names = list(results)
    print("| source/variation | n | " + " | ".join(Path(n).name for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for row in results[names[0]]:
        cells = " | ".join(f"{100 * results[n][row]['accuracy']:.1f}%" for n in names)
        print(f"| {row} | {results[names[0]][row]['n']} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
