"""Saving and loading trained models as ``.npz`` files.

A model file (see :mod:`digitnet.npzfile`) holds one array per parameter,
``layer0.W`` (784, H1), ``layer0.b`` (H1,), ..., and JSON metadata with the
architecture, the preprocessing, the dataset and class names, the
hyperparameters, the final metrics, the digitnet version and a SHA-256 of the
weights. Nothing in it needs pickle, so a model file from a stranger cannot
run code, and loading checks every array against the architecture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import __version__
from .errors import ModelFileError
from .model import Architecture, Network, build_mlp
from .npzfile import load_npz, save_npz

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
PREPROCESSING = {
    "input": "28x28 grayscale, flattened row by row to 784 values",
    "scale": "pixel / 255, float in [0, 1], 0 = background, 1 = ink",
}


def save_model(path: str | Path, model: Network, metadata: dict | None = None) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Destination, conventionally ``model.npz``.
    model : Network
        Must carry its ``architecture``.
    metadata : dict, optional
        Extra JSON-serialisable information (dataset, config, metrics...).

    Returns
    -------
    Path
    """
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "digitnet_version": __version__,
        "architecture": model.architecture.to_dict(),
        "preprocessing": PREPROCESSING,
        **(metadata or {}),
        "dtype": str(model.dtype),
    }
    return save_npz(path, dict(model.named_parameters()), meta)


def architecture_from(meta: dict, path: Path, error=ModelFileError) -> tuple[Architecture, np.dtype]:
    """Rebuild the Architecture and dtype recorded in a file's metadata."""
    try:
        arch_dict = meta["architecture"]
        arch = Architecture(
            input_size=int(arch_dict["input_size"]), hidden=tuple(int(h) for h in arch_dict["hidden"]),
            output_size=int(arch_dict["output_size"]), dropout=float(arch_dict.get("dropout", 0)),
            input_dropout=float(arch_dict.get("input_dropout", 0)),
        )
        dtype = np.dtype(meta.get("dtype", "float32"))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise error(f"{path}: metadata has no valid architecture ({err})") from None
    if dtype not in (np.float32, np.float64) or min(arch.sizes) < 1 or not arch.hidden:
        raise error(f"{path}: unsupported dtype {dtype} or layer sizes {arch.sizes}")
    return arch, dtype


def expected_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of an architecture, without building it."""
    sizes = arch.sizes
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"layer{i}.W"], shapes[f"layer{i}.b"] = (fan_in, fan_out), (fan_out,)
    return shapes


def check_arrays(arrays: dict, shapes: dict, dtype, path: Path, error=ModelFileError) -> None:
    """Every expected array present with the right shape and dtype, nothing else."""
    if set(arrays) != set(shapes):
        extra, missing = sorted(set(arrays) - set(shapes)), sorted(set(shapes) - set(arrays))
        raise error(f"{path}: arrays do not match the architecture "
                    f"(missing {missing}, unexpected {extra})")
    for name, shape in shapes.items():
        stored = arrays[name]
        if stored.shape != shape or stored.dtype != dtype:
            raise error(f"{path}: {name} is {stored.dtype} {stored.shape}, "
                        f"architecture needs {dtype} {shape}")


def network_from(arrays: dict, arch: Architecture, dtype) -> Network:
    """Build a network and copy checked arrays into its parameters."""
    model = build_mlp(arch, np.random.default_rng(0), dtype)
    for name, target in model.named_parameters():
        target[...] = arrays[name]
    return model


def load_model(path: str | Path) -> tuple[Network, dict]:
    """Load a model file written by :func:`save_model`.

    Returns
    -------
    model : Network
        Ready for ``predict_proba``.
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
    arrays, meta = load_npz(path, FORMAT, (FORMAT_VERSION,))
    arch, dtype = architecture_from(meta, path)
    # Shapes are checked before anything is built, so metadata claiming
    # enormous layers allocates nothing.
    check_arrays(arrays, expected_shapes(arch), dtype, path)
    return network_from(arrays, arch, dtype), meta
