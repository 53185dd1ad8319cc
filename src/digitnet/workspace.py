"""Work arrays: the scratch space that keeps a training step from allocating.

Training runs thousands of steps with the same batch size; writing each
step's outputs into arrays allocated once (NumPy's ``out=``) saves the
allocator and the page faults. These helpers keep such arrays, and
:class:`WorkArrays` gives a layer named ones that a copy or a pickle of the
layer leaves behind (they are rebuilt on the next step). Only training uses
them: inference allocates fresh arrays.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


def reusable_array(store: dict, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A work array of ``shape`` kept in ``store`` from call to call (training only).

    Training runs thousands of steps with the same batch size; writing each
    step's outputs into arrays allocated once (NumPy's ``out=``) saves the
    allocator and the page faults. The array is kept for the largest batch
    seen and a view of its first rows is returned, so batches of changing
    size (the last, smaller one of an epoch) allocate nothing either. The
    catch, and the reason this is explicit: the array is overwritten by the
    next call.
    """
    kept = store.get(name)
    if kept is None or kept.shape[0] < shape[0] or kept.shape[1:] != shape[1:] or kept.dtype != dtype:
        rows = max(shape[0], 0 if kept is None or kept.shape[1:] != shape[1:] else kept.shape[0])
        kept = store[name] = np.empty((rows, *shape[1:]), dtype)
    return kept[:shape[0]]


def reusable_vector(store: dict, name: str, n: int, make) -> np.ndarray:
    """The first ``n`` entries of a constant vector ``make(length)`` kept in ``store``.

    For vectors that never change once built (ones, the row numbers
    0 .. n-1): built again only when a longer one is needed.
    """
    kept = store.get(name)
    if kept is None or len(kept) < n:
        kept = store[name] = make(n)
    return kept[:n]


class WorkArrays:
    """Mixin: named work arrays for training, left out when the layer is copied."""

    _work: dict[str, np.ndarray]

    def work(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A reusable work array of ``shape``: see :func:`reusable_array`."""
        return reusable_array(self._work, name, shape, dtype)

    def __getstate__(self) -> dict:
        # Work arrays and cached activations are scratch space, rebuilt on the
        # next training step: a pickled layer holds only what defines it.
        return {k: v for k, v in self.__dict__.items() if k not in self._scratch}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for name in self._scratch:
            setattr(self, name, None)
        self._work = {}

    _scratch: ClassVar[tuple[str, ...]] = ("_work",)
