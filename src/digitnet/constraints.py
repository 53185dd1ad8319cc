"""Max-norm: a cap on the length of each unit's incoming weight vector.

After every update, each hidden (and output) unit's weight vector ``W[:, j]``
is rescaled to length ``c`` if it has grown longer. Srivastava et al. (2014)
found this the best partner for dropout: it lets training use a large
learning rate without the weights blowing up, because no single unit can
grow its weights without bound however noisy the gradients are.
"""

from __future__ import annotations

import numpy as np


def apply_max_norm(W: np.ndarray, limit: float) -> None:
    """Rescale, in place, every column of ``W`` (fan_in, fan_out) longer than ``limit``.

    Examples
    --------
    >>> W = np.array([[3.0, 0.1], [4.0, 0.1]])
    >>> apply_max_norm(W, 1.0)
    >>> np.round(np.linalg.norm(W, axis=0), 3)
    array([1.   , 0.141])
    """
    norms = np.sqrt(np.einsum("ij,ij->j", W, W))            # (fan_out,), no W*W temporary
    # Units under the cap get a factor of exactly 1; tiny norms cannot divide by 0. The
    # factors come out in W's dtype (NumPy keeps float32 against a Python float).
    factors = np.minimum(1.0, limit / np.maximum(norms, np.finfo(W.dtype).tiny))
    W *= factors
