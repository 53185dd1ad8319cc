"""Shared fixtures: the shipped MNIST, a small real subset, Fashion-MNIST if available."""

import os
from pathlib import Path

import numpy as np
import pytest

from digitnet import load_dataset

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist():
    """The full shipped MNIST with the default 5,000-image validation split."""
    return load_dataset("mnist", MNIST_DIR)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """A real 6,000-image training subset (and the full validation/test sets)."""
    from dataclasses import replace

    return replace(mnist, x_train=mnist.x_train[:6000], y_train=mnist.y_train[:6000])


@pytest.fixture(scope="session")
def fashion_dir():
    """Fashion-MNIST is not shipped: CI points DIGITNET_FASHION_MNIST_DIR at ../shared."""
    candidates = [os.environ.get("DIGITNET_FASHION_MNIST_DIR"),
                  str(REPO.parent / "shared" / "data" / "fashion-mnist")]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    pytest.skip("Fashion-MNIST not found: set DIGITNET_FASHION_MNIST_DIR "
                "or place ../shared/data/fashion-mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
