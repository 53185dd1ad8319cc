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
from dataclasses import dataclass

import numpy as np

PIECE = 32768


@dataclass
class Piece:
    """One part of the flat vector: ``[start, stop)`` and the array segments in it.

    ``segments`` holds ``(array index, first, last)`` ranges of the raveled
    arrays, in flat order; ``decay`` is their shared setting.
    """

    start: int
    stop: int
    segments: list[tuple[int, int, int]]
    decay: bool


class Pieces:
    """A plan for updating ``arrays`` piece by piece.

    Parameters
    ----------
    arrays : list of ndarray
        The parameters, C-contiguous (a plain layer's arrays are).
    decay : list of bool
        Per array: whether weight decay applies. Pieces never mix the two.
    size : int
        Numbers per piece.

    Raises
    ------
    ValueError
        If an array is not contiguous (its update would be lost in a copy).
    """

    def __init__(self, arrays: Sequence[np.ndarray], decay: Sequence[bool], size: int = PIECE):
        for a in arrays:
            if not a.flags.c_contiguous:
                raise ValueError("optimizer parameters must be C-contiguous arrays")
        self.arrays = list(arrays)
        self.dtype = np.result_type(*arrays)
        # Flat order: decayed arrays first, then the others, each in the given order.
        self.order = sorted(range(len(arrays)), key=lambda i: not decay[i])
        self.offsets = {}
        flat = 0
        for i in self.order:
            self.offsets[i] = flat
            flat += arrays[i].size
        self.size = flat
        self.pieces = self._cut(arrays, decay, size)
        # Scratch vectors, one piece long: gathered gradients, gathered
        # parameters, and two for the update's intermediate results.
        longest = max((piece.stop - piece.start for piece in self.pieces), default=0)
        self._scratch = [np.empty(longest, self.dtype) for _ in range(4)]

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
                open_piece = Piece(start + first, start + last, [(i, first, last)], bool(decay[i]))
                pieces.append(open_piece)
        return pieces

    def matches(self, arrays: Sequence[np.ndarray]) -> bool:
        """Whether this plan was made for exactly these arrays."""
        return len(arrays) == len(self.arrays) and all(a is b for a, b in zip(arrays, self.arrays))

    def zeros(self) -> np.ndarray:
        """A flat state vector (one number per parameter), all zero."""
        return np.zeros(self.size, self.dtype)

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per-array views of a flat state vector, shaped like the arrays."""
        return [flat[self.offsets[i]:self.offsets[i] + a.size].reshape(a.shape)
                for i, a in enumerate(self.arrays)]

    def __iter__(self) -> Iterator[Piece]:
        return iter(self.pieces)

    def gather(self, piece: Piece, arrays: Sequence[np.ndarray], slot: int = 0) -> np.ndarray:
        """``arrays``' numbers in ``piece`` as one vector, not to be written to.

        A view when the piece is one segment of one array; otherwise a copy
        in scratch vector ``slot`` (0 or 1).
        """
        if len(piece.segments) == 1:
            i, first, last = piece.segments[0]
            return arrays[i].reshape(-1)[first:last]
        out = self.scratch(piece, slot)
        np.concatenate([arrays[i].reshape(-1)[first:last] for i, first, last in piece.segments], out=out)
        return out

    def subtract(self, piece: Piece, delta: np.ndarray) -> None:
        """``param -= delta`` for the parameters in ``piece``; ``delta`` is flat."""
        at = 0
        for i, first, last in piece.segments:
            view = self.arrays[i].reshape(-1)[first:last]
            view -= delta[at:at + last - first]
            at += last - first

    def scratch(self, piece: Piece, slot: int) -> np.ndarray:
        """Scratch vector ``slot`` (0-3), as long as ``piece``; gather uses 0 and 1."""
        return self._scratch[slot][:piece.stop - piece.start]
