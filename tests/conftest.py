"""Shared fixtures: the shipped MNIST, a small real subset, Fashion-MNIST if available."""

import json
import os
import signal
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


@pytest.fixture(autouse=True)
def usual_signal_handlers():
    """Every test starts with Ctrl-C raising KeyboardInterrupt and SIGTERM ending the process.

    A shell starts its background jobs (``make test &`` in a script, CI runners, ``nohup`` under
    some shells) with SIGINT ignored, and Python then keeps it ignored: a test that sends itself
    or a child a SIGINT, or checks that a handler was put back, would pass or fail by how pytest
    was started. Children started by a test inherit these (an ignored signal stays ignored across
    ``exec``; a handler does not), so they too start as from a terminal. Put back afterwards.
    """
    previous = {s: signal.signal(s, h) for s, h in
                ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL))}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_collection_modifyitems(config, items):
    """Under `make mutation`, run the quickest tests first.

    mutmut runs the tests that call a mutated function and stops at the first failure; in
    their default order a mutant that a unit test kills in milliseconds may first sit
    through a minute of training runs. The durations are mutmut's own, measured in its
    first pass (mutants/mutmut-stats.json, the working folder there). Its clean run
    uses the same order, so a test that passes only after another would show there.
    """
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    stats = Path("mutmut-stats.json")
    if stats.is_file():
        duration = json.loads(stats.read_text()).get("duration_by_test", {})
        items.sort(key=lambda item: duration.get(item.nodeid, 0.0))
