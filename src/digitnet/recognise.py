"""Reading a person's picture with a network: one digit, a whole number, or an honest "no".

One code path for ``digitnet predict``, the Python API (:func:`read_picture`)
and the web page: the digits are found by :func:`digitnet.segment.find_digits`,
each is fitted to MNIST's 28x28 by :func:`digitnet.preprocess.fit_digit`,
and the network reads them. The answer is a plain dict, ready for JSON:

- ``status``: ``"ok"``; ``"unsure"`` (the top probability is below
  ``min_confidence``: ``digit`` is None, ``guess`` holds the top class);
  ``"no digit"`` (only edge lines, a dot, a dash: ``reason`` says which);
  ``"several digits"`` (read as one digit, the picture clearly holds more:
  ``warning`` says so and ``digit`` is None; pass ``number=True``).
- ``digit`` (class index or None), ``label``, ``confidence``, ``probabilities``
  (one per class), ``top3``.
- with ``number=True``: ``number`` (a string such as ``"2024"``, ``?`` for
  a digit below ``min_confidence``) and ``digits``, one entry per digit left
  to right with ``digit``, ``label``, ``confidence``, ``probabilities`` and
  ``box`` (``[left, top, right, bottom]`` in the picture's pixels).

Choosing ``min_confidence``: ``digitnet evaluate`` prints the accuracy at
each coverage (risk-coverage, Geifman and El-Yaniv, "Selective
classification for deep neural networks", NeurIPS 2017) with the threshold
that gives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import square_shape
from .errors import ImageError
from .preprocess import check_gray, fit_digit, load_picture
from .segment import Found, find_digits, join


def read_picture(model, picture, number: bool = False, min_confidence: float = 0.0,
                 image_shape: tuple[int, int] | None = None) -> dict:
    """Read the digit, or with ``number=True`` every digit, in a picture.

    Parameters
    ----------
    model : Network
        A trained network taking pictures: 784 inputs (28x28), or the size ``image_shape`` gives.
    picture : str, Path or ndarray of shape (H, W)
        An image file, or grey levels in [0, 1] (dark-on-light or light-on-dark).
    number : bool
        Read every digit left to right and return the number they make.
    min_confidence : float
        In [0, 1]: a digit whose top probability is below it is "unsure"
        (``digit`` None) rather than a guess.
    image_shape : tuple of int, optional
        (height, width) of the network's images (a model file's
        ``image_shape``); default: square, 784 inputs -> 28x28.

    Returns
    -------
    dict
        See the module docstring. ``inputs``: the 28x28 float32 arrays the
        network saw, one per digit read (not JSON: pop it before dumping).

    Raises
    ------
    ImageError
        The file cannot be read, or the picture is blank.
    ValueError
        ``min_confidence`` outside [0, 1].
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    shape = picture_shape(model, image_shape)
    if isinstance(picture, (str, Path)):
        gray, decoded_scale = load_picture(picture)       # a large photo is decoded smaller
    else:
        gray, decoded_scale = check_gray(picture), 1.0
    found = find_digits(gray)
    found.scale *= decoded_scale                          # boxes in the file's own pixels
    return read_digits(model, found, number, min_confidence, shape)


def picture_shape(model, image_shape=None) -> tuple[int, int]:
    """The (height, width) a picture is fitted to for ``model``.

    Raises
    ------
    ImageError
        The network's input is not a picture (its size is no square and no ``image_shape`` is known).
    """
    if image_shape:
        return int(image_shape[0]), int(image_shape[1])
    shape = square_shape(model.n_features_in)
    if shape is None:
        raise ImageError(f"the network takes {model.n_features_in} values per input, not a square "
                         "picture: give it rows of a CSV file instead")
    return shape


def read_digits(model, found: Found, number: bool = False, min_confidence: float = 0.0,
                shape: tuple[int, int] = (28, 28)) -> dict:
    """:func:`read_picture` for digits already found (:func:`digitnet.segment.find_digits`)."""
    if not found.digits:
        none: dict[str, Any] = {"number": None, "digits": []} if number else {}
        return {"status": "no digit", "digit": None, "label": None, "reason": found.no_digit, **none,
                "inputs": []}
    classes = [str(c) for c in model.classes]
    if number:
        inputs = [fit_digit(d, shape) for d in found.digits]
        probs = model.predict_proba(np.stack(inputs).reshape(len(inputs), -1))     # (k, K)
        digits = [{**_answer(p, classes, min_confidence), "box": found.box(d)}
                  for d, p in zip(found.digits, probs)]
        text = "".join(d["label"] if d["digit"] is not None else "?" for d in digits)
        unsure = any(d["digit"] is None for d in digits)
        return {"status": "unsure" if unsure else "ok", "number": text, "digits": digits,
                "inputs": inputs}
    x = fit_digit(join(found.digits), shape)
    p = model.predict_proba(x.reshape(1, -1))[0]
    result = {"status": "ok", **_answer(p, classes, min_confidence), "inputs": [x]}
    if result["digit"] is None:
        result["status"] = "unsure"
    if len(found.digits) > 1:
        result.update(status="several digits", digit=None, label=None,
                      warning=f"{len(found.digits)} digits in the picture, not one: "
                              "read them as a number with --number")
    return result


def _answer(p: np.ndarray, classes: list[str], min_confidence: float) -> dict:
    """The reading of one digit from its probabilities ``p`` (K,)."""
    top = np.argsort(-p)[:3]
    best = int(top[0])
    sure = p[best] >= min_confidence
    answer: dict[str, Any] = {"digit": best if sure else None, "label": classes[best] if sure else None,
              "confidence": float(p[best]), "probabilities": [float(v) for v in p],
              "top3": [{"digit": int(k), "label": classes[k], "probability": float(p[k])} for k in top]}
    if not sure:
        answer["guess"] = {"digit": best, "label": classes[best]}
    return answer
