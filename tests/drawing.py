"""Digit pictures made for the tests: drawn strokes and MNIST digits dressed as photos."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# Strokes in a unit box (x right, y down), as a person might draw them.
STROKES = {
    0: [[(0.5 + 0.32 * np.cos(t), 0.5 + 0.45 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    1: [[(0.52, 0.05), (0.48, 0.95)]],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
}


def draw_digit(digit: int, size=(300, 300), box=(50, 50, 250, 250), width=18,
               dark_on_light=True) -> Image.Image:
    """Draw ``digit`` with lines of ``width`` pixels inside ``box`` on a canvas of ``size``."""
    ink, paper = (0, 255) if dark_on_light else (255, 0)
    image = Image.new("L", size, paper)
    pen = ImageDraw.Draw(image)
    left, top, right, bottom = box
    for stroke in STROKES[digit]:
        points = [(left + x * (right - left), top + y * (bottom - top)) for x, y in stroke]
        pen.line(points, fill=ink, width=width, joint="curve")
        for x, y in points[:1] + points[-1:]:  # round caps
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=ink)
    return image


def photo_of(digit28: np.ndarray, rng: np.random.Generator, dark_on_light=True) -> Image.Image:
    """An MNIST digit (28, 28) uint8 as a camera might see it on paper.

    Upscaled by a random factor, placed off-centre on a larger canvas of odd
    size, with uneven lighting and sensor noise.
    """
    scale = int(rng.integers(4, 12))
    big = np.asarray(Image.fromarray(digit28).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC),
                     dtype=np.float64) / 255.0
    h, w = int(28 * scale * rng.uniform(1.3, 2.2)), int(28 * scale * rng.uniform(1.3, 2.5))
    canvas = np.zeros((h, w))
    top, left = int(rng.integers(0, h - big.shape[0])), int(rng.integers(0, w - big.shape[1]))
    canvas[top:top + big.shape[0], left:left + big.shape[1]] = big
    if dark_on_light:
        canvas = 1.0 - 0.8 * canvas            # grey pencil on white paper
    else:
        canvas = 0.1 + 0.8 * canvas            # chalk on a dark board
    lighting = np.linspace(-0.08, 0.08, w)[None, :] + np.linspace(-0.05, 0.05, h)[:, None]
    canvas = canvas + lighting + rng.normal(0, 0.03, canvas.shape)
    gray = (np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


# More strokes for the browser test: a 4 in two strokes (pen lifted), a 3.
STROKES[4] = [[(0.62, 0.05), (0.12, 0.65), (0.88, 0.65)], [(0.66, 0.3), (0.66, 0.97)]]
STROKES[3] = [[(0.2, 0.12), (0.5, 0.03), (0.78, 0.16), (0.72, 0.4), (0.45, 0.48), (0.76, 0.58),
               (0.8, 0.8), (0.55, 0.97), (0.2, 0.88)]]
