"""Float results that are the same bytes on every machine.

Another machine's numeric libraries pick other kernels (instruction set, BLAS core type, thread
count), and each kernel sums in its own order, so a float result differs in its last bits. Two
tools keep what the pipeline writes and decides identical (docs/embeddings.md, "the same bytes on
every machine"):

- :func:`snap` rounds values to a fixed grid: two results 1e-16 apart land on the same grid point
  unless they straddle a midpoint (probability: their distance over the grid step);
- :func:`fixed_order_matmul` is a matrix product whose sums run in one order on every machine
  (elementwise products, then numpy's pairwise sum along the last axis, which does not depend on
  the SIMD width), unlike BLAS. Use it where a product feeds a decision (a threshold, a random
  draw whose parameter may be exactly 0): there, last bits can change what happens next.
"""

from __future__ import annotations

import numpy as np

#: elements of the intermediate product array per chunk of rows (about 32 MB of float64)
_CHUNK_ELEMENTS = 1 << 22


def snap(values, bits: int, dtype=np.float64) -> np.ndarray:
    """``values`` rounded (half to even) to the nearest multiple of ``2**-bits``, as ``dtype``;
    zero is always +0.0 (a result of -1e-17 on one machine and +1e-17 on another is one bit
    pattern)."""
    x = np.asarray(values, dtype=np.float64)
    scale = float(2**bits)
    return (np.round(x * scale) / scale + 0.0).astype(dtype)


def fixed_order_matmul(a, b) -> np.ndarray:
    """``a @ b`` (2-D ``a``; 1-D or 2-D ``b``) in float64 with every sum in one fixed order."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 1:
        return fixed_order_matmul(a, b[:, None])[:, 0]
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"fixed_order_matmul: shapes {a.shape} and {b.shape} do not align")
    bt = np.ascontiguousarray(b.T)  # (m, k): each output sums along a contiguous last axis
    out = np.empty((a.shape[0], b.shape[1]))
    rows = max(1, _CHUNK_ELEMENTS // max(1, b.shape[0] * b.shape[1]))
    for start in range(0, a.shape[0], rows):
        part = a[start : start + rows]
        out[start : start + rows] = (part[:, None, :] * bt[None, :, :]).sum(axis=2)
    return out
