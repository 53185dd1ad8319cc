"""Saving and loading trained models as ``.npz`` files.

A model file (see :mod:`digitnet.npzfile`) holds one array per parameter,
``layer0.W`` (n_features, H1), ``layer0.b`` (H1,), ... (numbered by layer with
parameters), and JSON metadata: the layers as a list of typed specs
(``{"type": "Dense", "fan_in": 784, "fan_out": 512}``, ``{"type": "ReLU"}``,
...), the classes, the input scaling, the dataset, the hyperparameters, the
final metrics, the digitnet version and a SHA-256 of the weights. Nothing in
it needs pickle, so a model file from a stranger cannot run code, and every
array is checked against its layer's spec before use.

Format version 1 (digitnet 0.1's shipped models) described an MLP by its
sizes; it still loads, into the same layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import ModelFileError
from .layers import LAYER_TYPES
from .model import Network
from .npzfile import load_npz, save_npz

FORMAT = "digitnet-model"
FORMAT_VERSION = 2
PREPROCESSING = {
    "input": "(n_samples, n_features); images flattened row by row (28x28 -> 784)",
    "scale": "uint8 pixels / 255 to floats in [0, 1] (0 = background, 1 = ink); floats as given",
}


def save_model(path: str | Path, model: Network, metadata: dict | None = None) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Destination, conventionally ``model.npz``.
    model : Network
    metadata : dict, optional
        Extra JSON-serialisable information (dataset, config, metrics...).

    Returns
    -------
    Path

    Raises
    ------
    ModelFileError
        ``path`` cannot be written (a folder, no permission, disk full);
        nothing is left behind.
    """
    meta = {
        "history": model.history,
        **(metadata or {}),
        "format": FORMAT, "format_version": FORMAT_VERSION, "digitnet_version": __version__,
        "layers": model.spec(), "classes": _json_classes(model.classes),
        "preprocessing": _preprocessing((metadata or {}).get("image_shape"), model),
        "dtype": str(model.dtype),
    }
    try:
        return save_npz(path, dict(model.named_parameters()), meta)
    except OSError as err:
        raise ModelFileError(f"{str(path) or '(empty path)'}: cannot write the model file "
                             f"({err.strerror or err})") from None


def _preprocessing(image_shape, model: Network) -> dict:
    """What an input must be: the image size the network was trained on, and the scale."""
    if not image_shape:
        return PREPROCESSING
    h, w = image_shape
    return {**PREPROCESSING, "input": f"(n_samples, n_features); images flattened row by row "
                                      f"({h}x{w} -> {h * w})"}


def _json_classes(classes) -> list:
    """Labels as plain ints or strings (NumPy scalars are not JSON)."""
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def layer_specs(meta: dict, path: Path, error=ModelFileError) -> tuple[list[dict], np.dtype]:
    """The layer specs and dtype a file's metadata records (version 1 converted)."""
    try:
        dtype = np.dtype(meta.get("dtype", "float32"))
        if "layers" in meta:
            specs = [dict(spec) for spec in meta["layers"]]
        else:
            specs = _specs_from_architecture(meta["architecture"])
        for spec in specs:
            if spec.get("type") not in LAYER_TYPES:
                raise ValueError(f"unknown layer type {spec.get('type')!r}")
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise error(f"{path}: metadata has no valid layer list ({err})") from None
    if dtype not in (np.float32, np.float64):
        raise error(f"{path}: unsupported dtype {dtype}")
    return specs, dtype


def _specs_from_architecture(arch: dict) -> list[dict]:
    """Version 1's MLP description as layer specs: [Dropout] Dense ReLU [Dropout] ... Dense."""
    sizes = [int(arch["input_size"]), *(int(h) for h in arch["hidden"]), int(arch["output_size"])]
    specs: list[dict] = []
    if float(arch.get("input_dropout", 0)) > 0:
        specs.append({"type": "Dropout", "p": float(arch["input_dropout"])})
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        specs.append({"type": "Dense", "fan_in": fan_in, "fan_out": fan_out})
        if i < len(sizes) - 2:
            specs.append({"type": "ReLU"})
            if float(arch.get("dropout", 0)) > 0:
                specs.append({"type": "Dropout", "p": float(arch["dropout"])})
    return specs


def network_from(specs: list[dict], arrays: dict[str, np.ndarray], dtype, classes: Any,
                 path: Path, error=ModelFileError) -> Network:
    """Build the layers from specs and checked arrays ``layer{i}.{name}``.

    Every array must be present with its layer's dtype and shape, and none
    left over; sizes are checked against the arrays before any layer is
    built, so metadata claiming enormous layers allocates nothing.
    """
    layers, used, numbered = [], set(), 0
    try:
        for spec in specs:
            kind = LAYER_TYPES[spec["type"]]
            params = {}
            if getattr(kind, "PARAMS", ()):     # layers with parameters are numbered layer0, layer1, ...
                prefix = f"layer{numbered}."
                for key in kind.PARAMS:
                    if prefix + key not in arrays:
                        raise ValueError(f"{prefix}{key} is missing")
                    if arrays[prefix + key].dtype != dtype:
                        raise ValueError(f"{prefix}{key} is {arrays[prefix + key].dtype}, not {dtype}")
                    params[key] = arrays[prefix + key]
                    used.add(prefix + key)
                numbered += 1
            try:
                layers.append(kind.from_spec(spec, params))
            except ValueError as err:
                raise ValueError(f"layer{numbered - 1}.{err}" if params else str(err)) from None
        if used != set(arrays):
            raise ValueError(f"arrays {sorted(set(arrays) - used)} belong to no layer")
        network = Network(layers, classes)
    except (KeyError, TypeError, ValueError) as err:
        raise error(f"{path}: arrays do not match the layers ({err})") from None
    return network


def load_model(path: str | Path) -> tuple[Network, dict]:
    """Load a model file written by :func:`save_model`.

    Returns
    -------
    model : Network
        Ready for ``predict``; ``classes`` and ``history`` as saved.
    metadata : dict

    Raises
    ------
    ModelFileError
        Missing, corrupt, tampered with, or not a digitnet model; the
        message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    arrays, meta = load_npz(path, FORMAT, (1, FORMAT_VERSION))
    specs, dtype = layer_specs(meta, path)
    model = network_from(specs, arrays, dtype, _classes(meta, path), path)
    history = meta.get("history")
    model.history = history if isinstance(history, list) else []
    return model, meta


def _classes(meta: dict, path: Path) -> list | None:
    classes = meta.get("classes")
    if classes is None:
        return None
    if not isinstance(classes, list) or not all(isinstance(c, (int, str)) for c in classes):
        raise ModelFileError(f"{path}: 'classes' must be a list of integers or strings")
    # Version 1 stored MNIST's labels as the names "0".."9": they are the integers.
    if meta.get("format_version") == 1 and classes == [str(i) for i in range(len(classes))]:
        return list(range(len(classes)))
    return classes
