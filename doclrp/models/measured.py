"""What was measured of each composite on each built-in model kind, where it was no better than random.

``benchmarks/evaluation.py --composites … --measured`` measures every named composite on the
built-in model kinds (deletion ABPC on held-out BBC News and VADER documents, with 95 % bootstrap
intervals, against the random baseline in the same run) and writes here the pairs whose paired
difference from random is not above 0 by its interval. Such a composite is never that kind's
default, and :func:`measured_note` gives the one line that says so when it is chosen.

>>> measured_note("text-cnn", "epsilon") is None
True
>>> sample = {"bow-mlp": {"corpus": "bbc", "abpc": -3.7, "low": -4.64, "high": -2.86, "random": 0.12,
...           "random_low": -0.2, "random_high": 0.5, "documents": 30}}
>>> print(measured_note("bow-mlp", "epsilon-gamma-box", {"epsilon-gamma-box": sample}))
epsilon-gamma-box on bow-mlp models was no better than random: deletion ABPC -3.70 [-4.64, -2.86] against random 0.12 [-0.20, 0.50] (30 held-out bbc documents; docs/how-to/choose-method.md)
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOT_BETTER_THAN_RANDOM", "measured_note", "model_kind"]

# measured:start
NOT_BETTER_THAN_RANDOM: dict[str, dict[str, dict[str, Any]]] = {
    "epsilon-gamma-box": {
        "bow-mlp": {
            "corpus": "bbc",
            "abpc": -1.4768978960879826,
            "low": -2.7482731668825515,
            "high": -0.26058563059856354,
            "random": 0.003171068264213832,
            "random_low": -0.2594833716186642,
            "random_high": 0.25838309358060346,
            "documents": 25
        }
    },
    "alpha2-beta1": {
        "bow-mlp": {
            "corpus": "vader",
            "abpc": 0.13707770970734684,
            "low": -0.0731393992203201,
            "high": 0.3557220289453185,
            "random": 0.04371761191974986,
            "random_low": -0.06157579868490042,
            "random_high": 0.15177191623232572,
            "documents": 25
        },
        "embedding-bag": {
            "corpus": "vader",
            "abpc": 0.37625934789126575,
            "low": -0.0459273861998861,
            "high": 0.7918135119439527,
            "random": 0.058618030053648074,
            "random_low": -0.07699484565024345,
            "random_high": 0.19819749984653148,
            "documents": 25
        }
    }
}
# measured:end


def model_kind(model: Any) -> str | None:
    """The kind a model was measured as: its ``model_type`` (``"bow-mlp"``, ``"text-cnn"`` …)."""
    kind = getattr(model, "model_type", None)
    return kind if isinstance(kind, str) else None


def measured_note(kind: str | None, method: str,
                  measured: dict[str, dict[str, dict[str, Any]]] | None = None) -> str | None:
    """One line with the measured figure when ``method`` was no better than random on models of
    ``kind``, else None."""
    figures = (NOT_BETTER_THAN_RANDOM if measured is None else measured).get(method, {}).get(kind or "")
    if not figures:
        return None
    return (f"{method} on {kind} models was no better than random: deletion ABPC {figures['abpc']:.2f} "
            f"[{figures['low']:.2f}, {figures['high']:.2f}] against random {figures['random']:.2f} "
            f"[{figures['random_low']:.2f}, {figures['random_high']:.2f}] ({figures['documents']} held-out "
            f"{figures['corpus']} documents; docs/how-to/choose-method.md)")
