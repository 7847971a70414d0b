"""A client's weighted update as one flat vector, and the weighted mean back from their sum.

As in Flower's SecAgg+, each client uploads ``[w, w * params]`` where ``w = num_examples /
max_weight`` (so the server learns only sums): the weight travels as the first element, encoded
as ``(2w - 1) * c`` so that it spans the quantizer's whole range [-c, c], and every parameter
is scaled by ``w`` and clipped to [-c, c] by the quantizer. The mean is ``sum(w x) / sum(w)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, InputError, NonFiniteError, ShapeError

Shapes = list[tuple[int, ...]]


def vector_length(shapes: Shapes) -> int:
    """Elements in the uploaded vector: the weight, then every parameter."""
    return 1 + sum(int(np.prod(s, dtype=np.int64)) for s in shapes)


def encode(arrays: Sequence[np.ndarray], num_examples: int, *, max_weight: float, clipping_range: float,
           shapes: Shapes) -> np.ndarray:
    """The float64 vector a client hands to secure aggregation. Refuses a weight above
    ``max_weight`` (it would be clipped into a wrong mean) and arrays of other shapes."""
    got = [tuple(np.shape(a)) for a in arrays]
    if got != [tuple(s) for s in shapes]:
        raise ShapeError(f"the fit result has arrays of shapes {got[:4]}; the round expects {shapes[:4]}")
    if isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer)) or num_examples < 0:
        raise InputError(f"num_examples must be an int >= 0, got {num_examples!r:.40}")
    ratio = float(num_examples) / max_weight
    if ratio > 1.0:
        raise ConfigError(f"num_examples = {num_examples} exceeds max_weight = {max_weight}; the server must "
                          "raise max_weight (Flower's mod would only warn and send a wrong weight)")
    c = clipping_range
    out = np.empty(vector_length(shapes), dtype=np.float64)
    out[0] = (2.0 * ratio - 1.0) * c
    pos = 1
    for a in arrays:
        flat = np.asarray(a, dtype=np.float64).ravel()
        if not np.isfinite(flat).all():
            raise NonFiniteError("the fit result contains NaN or infinity")
        out[pos:pos + flat.size] = flat * ratio
        pos += flat.size
    return out


def weighted_mean(total: np.ndarray, num_clients: int, *, clipping_range: float, shapes: Shapes,
                  dtypes: Sequence[np.dtype]) -> tuple[list[np.ndarray], float]:
    """(the weighted mean as arrays of ``shapes``, the sum of the weights) from the de-quantized sum
    of ``num_clients`` encoded vectors."""
    c = clipping_range
    weight = (float(total[0]) + num_clients * c) / (2.0 * c)
    if not weight > 0.0:
        raise InputError("the included clients' weights sum to zero (every num_examples was 0)")
    arrays, pos = [], 1
    for shape, dtype in zip(shapes, dtypes):
        size = int(np.prod(shape, dtype=np.int64))
        values = total[pos:pos + size] / weight
        arrays.append(values.reshape(shape).astype(dtype if np.dtype(dtype).kind == "f" else np.float64))
        pos += size
    return arrays, weight
