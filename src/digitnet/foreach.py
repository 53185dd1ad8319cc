"""Element-wise optimizer updates over many arrays, in cache-sized pieces.

An optimizer step is a handful of element-wise operations (``m = b1 m +
(1 - b1) g`` and so on) on every parameter. Done array by array, a network
with eight small arrays pays NumPy's per-call overhead eight times per
operation; done on one huge array, every operation streams megabytes through
memory instead of cache. This module does what PyTorch's ``foreach`` and
fused optimizers do: it views all parameters as one flat vector, cut into
pieces of about 32,768 numbers (128 KiB of float32). Large arrays are cut
in place; small ones that share a setting (weight decay or not) are copied
together into one piece, updated, and the change is added back.

It is purely a speed device: each parameter stays a plain array owned by its
layer, and the optimizer's state (one flat array per kind) is exposed per
parameter as views (:meth:`Pieces.split`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

PIECE = 32768


class Piece:
    """One part of the flat vector, ``[start, stop)``, bound to its arrays.

    ``segments`` are ``(array index, first, last)`` ranges of the raveled
    arrays, in flat order, all with the same ``decay`` setting. The views of
    the parameters and gradients they cover are made once, when the plan is
    made, so that a step spends its time on arithmetic, not on slicing.
    """

    def __init__(self, start: int, segments: list[tuple[int, int, int]], decay: bool):
        self.start, self.segments, self.decay = start, segments, decay
        self.stop = start + sum(last - first for _, first, last in segments)
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.scratch: list[np.ndarray] = []

    def bind(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             scratch: list[np.ndarray]) -> None:
        """Make the views of this piece's numbers in ``params``, ``grads`` and ``scratch``."""
        self.params = [params[i].reshape(-1)[first:last] for i, first, last in self.segments]
        self.grads = [grads[i].reshape(-1)[first:last] for i, first, last in self.segments]
        self.scratch = [vector[:self.stop - self.start] for vector in scratch]
        self._deltas: list[np.ndarray] = []
        at = 0
        for view in self.params:
            self._deltas.append(self.scratch[3][at:at + view.size])
            at += view.size

    def gather(self, views: list[np.ndarray], slot: int) -> np.ndarray:
        """The numbers of ``views`` (``self.params`` or ``self.grads``) as one vector.

        A view when the piece is one segment; otherwise a copy in scratch
        vector ``slot`` (0 or 1). Not to be written to.
        """
        if len(views) == 1:
            return views[0]
        return np.concatenate(views, out=self.scratch[slot])

    def subtract_delta(self) -> None:
        """``param -= delta`` for every parameter in the piece; delta is in scratch vector 3."""
        for view, delta in zip(self.params, self._deltas):
            view -= delta


class Pieces:
    """A plan for updating ``params`` from ``grads`` piece by piece.

    Parameters
    ----------
    params, grads : list of ndarray
        The parameters and their gradients, C-contiguous (a plain layer's
        arrays are); the gradients are the arrays backward writes into.
    decay : list of bool
        Per array: whether weight decay applies. Pieces never mix the two.
    size : int
        Numbers per piece.

    Raises
    ------
    ValueError
        If an array is not contiguous (its update would be lost in a copy).
    """

    def __init__(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
                 decay: Sequence[bool], size: int = PIECE):
        for a in (*params, *grads):
            if not a.flags.c_contiguous:
                raise ValueError("optimizer parameters and gradients must be C-contiguous arrays")
        self.arrays, self.grads = list(params), list(grads)
        self.dtype = np.result_type(*params)
        # Flat order: decayed arrays first, then the others, each in the given order.
        self.order = sorted(range(len(params)), key=lambda i: not decay[i])
        self.offsets = {}
        flat = 0
        for i in self.order:
            self.offsets[i] = flat
            flat += params[i].size
        self.size = flat
        self.pieces = self._cut(params, decay, size)
        # Scratch vectors, one piece long: gathered gradients, gathered
        # parameters, and two for the update's intermediate results.
        longest = max((piece.stop - piece.start for piece in self.pieces), default=0)
        scratch = [np.empty(longest, self.dtype) for _ in range(4)]
        for piece in self.pieces:
            piece.bind(params, grads, scratch)

    def _cut(self, arrays, decay, size) -> list[Piece]:
        pieces: list[Piece] = []
        open_piece: Piece | None = None
        for i in self.order:
            n, start = arrays[i].size, self.offsets[i]
            if (open_piece is not None and open_piece.decay == decay[i]
                    and open_piece.stop - open_piece.start + n <= size):
                open_piece.segments.append((i, 0, n))
                open_piece.stop += n
                continue
            for first in range(0, n, size):
                last = min(first + size, n)
                open_piece = Piece(start + first, [(i, first, last)], bool(decay[i]))
                pieces.append(open_piece)
        return pieces

    def matches(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> bool:
        """Whether this plan was made for exactly these arrays."""
        return (len(params) == len(self.arrays) and all(a is b for a, b in zip(params, self.arrays))
                and all(a is b for a, b in zip(grads, self.grads)))

    def zeros(self) -> np.ndarray:
        """A flat state vector (one number per parameter), all zero."""
        return np.zeros(self.size, self.dtype)

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per-array views of a flat state vector, shaped like the arrays."""
        return [flat[self.offsets[i]:self.offsets[i] + a.size].reshape(a.shape)
                for i, a in enumerate(self.arrays)]

    def __iter__(self) -> Iterator[Piece]:
        return iter(self.pieces)
