"""How fast a person's picture is read: a 1-megapixel drawing and a 12-megapixel phone photo.

    python bench/picture_speed.py [--before PATH/TO/OLD/src] [--out bench/results/pictures.json]

Makes the two pictures (a digit drawn with a pen on a 1000x1000 white PNG; a
digit on grey paper with a shadow and sensor noise, 4000x3000 JPEG), then
times what ``digitnet predict`` does to each (decode, find the digits, fit
to 28x28: ``digitnet.preprocess.image_to_input``) and the page's answer to a
280x280 drawing (``/api/predict``'s work: decode, read, network), 7 times
each, median. With ``--before``, the same timings are made for another
checkout's ``src`` in a subprocess, alternating with this one's, so the
two are measured side by side in one run on the same machine state.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REPEATS = 7


def make_pictures(folder: Path) -> dict[str, Path]:
    from PIL import Image, ImageDraw, ImageFilter

    drawing = Image.new("L", (1000, 1000), 255)
    pen = ImageDraw.Draw(drawing)
    pen.line([(300, 220), (700, 220), (430, 820)], fill=0, width=60, joint="curve")   # a 7
    paths = {"drawing 1 MP": folder / "drawing.png"}
    drawing.save(paths["drawing 1 MP"])
    rng = np.random.default_rng(0)
    photo = Image.new("L", (4000, 3000), 120)                                          # grey paper
    pen = ImageDraw.Draw(photo)
    pen.ellipse((1700, 900, 2300, 1500), outline=30, width=70)                          # an 8
    pen.ellipse((1650, 1450, 2350, 2150), outline=30, width=70)
    photo = photo.filter(ImageFilter.GaussianBlur(4))
    shade = np.linspace(1.2, 0.6, 4000)[None, :]                                        # a shadow
    gray = np.clip(np.asarray(photo, np.float64) * shade + rng.normal(0, 6, (3000, 4000)), 0, 255)
    paths["photo 12 MP"] = folder / "photo.jpg"
    Image.fromarray(gray.astype(np.uint8)).convert("RGB").save(paths["photo 12 MP"], quality=90)
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).line([(80, 60), (200, 60), (120, 230)], fill=0, width=20)
    paths["page drawing 280x280"] = folder / "canvas.png"
    canvas.save(paths["page drawing 280x280"])
    return paths


def measure(paths: dict[str, str]) -> dict[str, float]:
    """Median seconds per picture for each path (run in the checkout under test)."""
    from digitnet.preprocess import image_to_input

    result = {}
    for name, path in paths.items():
        if name.startswith("page"):
            continue
        image_to_input(path)                                   # warm up imports and caches
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            image_to_input(path)
            times.append(time.perf_counter() - start)
        result[name] = statistics.median(times)
    return result


def measure_page(path: str) -> float:
    """The page's work for one drawing: decode, read (digits, number), network, activations."""
    import io

    from digitnet.preprocess import decode_image
    from digitnet.web.app import Inspector

    inspector = Inspector(REPO / "models" / "mnist-best-augmented.npz")
    raw = Path(path).read_bytes()
    inspector.read(decode_image(io.BytesIO(raw)))
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        inspector.read(decode_image(io.BytesIO(raw)))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_checkout(src: Path, paths: dict[str, str]) -> dict[str, float]:
    bench = str(REPO / "bench")
    code = (f"import json, sys; sys.path.insert(0, {str(src)!r}); sys.path.insert(1, {bench!r});"
            f"import picture_speed; print(json.dumps(picture_speed.measure({paths!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the src folder of an older checkout to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of before and after")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        paths = {name: str(p) for name, p in make_pictures(Path(folder)).items()}
        rows: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.rounds):
            for label, src in (("before", args.before), ("after", REPO / "src")):
                if src is None:
                    continue
                for name, seconds in in_checkout(src, paths).items():
                    rows.setdefault(name, {}).setdefault(label, []).append(seconds)
        sys.path.insert(0, str(REPO / "src"))
        page = measure_page(paths["page drawing 280x280"])
    result = {"command": "python bench/picture_speed.py " + " ".join(argv or sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor()
              or platform.machine(), "repeats": REPEATS,
              "seconds": {name: {label: min(v) for label, v in by.items()} for name, by in rows.items()},
              "page_seconds": page}
    print("| picture | before (s) | after (s) | after, pictures/s |")
    print("|---|---|---|---|")
    for name, by in result["seconds"].items():
        before = f"{by['before']:.3f}" if "before" in by else "-"
        print(f"| {name} | {before} | {by['after']:.3f} | {1 / by['after']:.1f} |")
    print(f"| page: one 280x280 drawing read, with the number and the network's insides | - | {page:.3f} | "
          f"{1 / page:.0f} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
