"""Faithfulness measures over perturbation curves, one number per document.

>>> import numpy as np
>>> morf = np.array([[4.0, 1.0, 0.0]])   # the explained value, shares 0, 0.5, 1
>>> lerf = np.array([[4.0, 3.5, 0.0]])
>>> abpc(morf, lerf), comprehensiveness(morf), sufficiency(lerf)
(array([0.83333333]), array([3.5]), array([0.25]))

Every function takes curves of shape ``(documents, shares)`` from
:func:`doclrp.evaluate.perturbation.perturbation_curves` on the grid
:data:`~doclrp.evaluate.perturbation.SHARES` (column 0: the document as written) and
returns one value per document, so that means come with intervals
(:mod:`doclrp.evaluate.uncertainty`). With ``c`` a curve and ``L + 1`` its points:

- :func:`aopc_per_document`: ``1/(L+1) Σ_{j=0..L} (c_0 − c_j)`` over a MoRF curve
  (Samek et al. 2017, "Evaluating the visualization of what a deep neural network has learned").
- :func:`abpc`: area between the LeRF and MoRF curves, ``1/(L+1) Σ_j (lerf_j − morf_j)``
  (Achtibat et al. 2024, "AttnLRP: attention-aware layer-wise relevance propagation for
  transformers"): high when removing the most
  relevant words hurts and removing the least relevant does not.
- :func:`comprehensiveness`: ``1/L Σ_{j=1..L} (c_0 − morf_j)``, the output lost by removing
  the top 10 %, 20 % … 100 % (DeYoung et al. 2020, ERASER, as ferret computes it).
- :func:`sufficiency`: ``1/L Σ_{j=0..L−1} (c_0 − lerf_j)``: the output lost when only the
  top 100 %, 90 % … 10 % are kept, i.e. the least relevant 0 % … 90 % removed (lower is better).
- :func:`normalized_aopc`: ``(AOPC − lower) / (upper − lower)`` per document, where lower and
  upper bound the AOPC that any removal order reaches on that document and model (Edin et
  al. 2024, "Normalized AOPC: Fixing misleading faithfulness metrics for feature attribution
  explainability"): raw AOPC depends on how far a model's output can fall at all, so it
  cannot be compared across models; normalized, 0 is the worst order and 1 the best. Edin
  et al. find the bounds by search over orders; :func:`aopc_bounds` takes the lowest and
  highest AOPC among the orders measured in the run (every method's MoRF and LeRF order,
  and the random one): cheap, exact for those orders, and only as wide as they reach, so a
  value is comparable across models evaluated with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from doclrp.errors import DoclrpError

__all__ = ["aopc_per_document", "abpc", "comprehensiveness", "sufficiency", "aopc_bounds", "normalized_aopc"]


def _curves(curves) -> np.ndarray:
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] < 2:
        raise DoclrpError(f"curves must have shape (documents, shares) with at least 2 shares, got {curves.shape}")
    return curves


def aopc_per_document(morf) -> np.ndarray:
    """Area over the perturbation curve per document (the module's formula)."""
    morf = _curves(morf)
    return (morf[:, :1] - morf).mean(1)


def abpc(morf, lerf) -> np.ndarray:
    """Area between the LeRF and MoRF curves per document."""
    morf, lerf = _curves(morf), _curves(lerf)
    if morf.shape != lerf.shape:
        raise DoclrpError(f"MoRF and LeRF curves differ in shape: {morf.shape} and {lerf.shape}")
    return (lerf - morf).mean(1)


def comprehensiveness(morf) -> np.ndarray:
    """Output lost by removing the most relevant 10 % … 100 %, averaged (higher is better)."""
    morf = _curves(morf)
    return (morf[:, :1] - morf[:, 1:]).mean(1)


def sufficiency(lerf) -> np.ndarray:
    """Output lost when keeping only the most relevant 100 % … 10 %, averaged (lower is better)."""
    lerf = _curves(lerf)
    return (lerf[:, :1] - lerf[:, :-1]).mean(1)


def aopc_bounds(aopcs: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` per document: the least and greatest of the AOPCs of several orders.

    >>> aopc_bounds([np.array([1.0, 2.0]), np.array([3.0, 0.5])])
    (array([1. , 0.5]), array([3., 2.]))
    """
    stacked = np.stack([np.asarray(a, dtype=np.float64) for a in aopcs])
    return stacked.min(0), stacked.max(0)


def normalized_aopc(aopc, lower, upper) -> np.ndarray:
    """``(aopc − lower) / (upper − lower)`` per document; NaN where the bounds meet (no order
    changes the output: nothing to rank).

    >>> normalized_aopc(np.array([2.0, 1.0]), np.array([1.0, 1.0]), np.array([3.0, 1.0]))
    array([0.5, nan])
    """
    aopc, lower, upper = (np.asarray(a, dtype=np.float64) for a in (aopc, lower, upper))
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(width > 1e-12, (aopc - lower) / np.where(width > 1e-12, width, 1.0), np.nan)
