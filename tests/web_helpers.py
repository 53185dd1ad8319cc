"""What the web tests share: a model to serve and pictures to send."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "mnist-best-augmented.npz"   # what `digitnet serve` serves by default


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def bomb_png(side: int = 8000) -> bytes:
    """A tiny PNG whose header claims side x side pixels (64 MP: over the limit)."""
    return png_bytes(Image.new("1", (side, side), 0))


def mnist_digit(data, index: int) -> np.ndarray:
    """Test image ``index`` as (28, 28) floats in [0, 1]."""
    return data.x_test[index].reshape(28, 28) / 255.0
