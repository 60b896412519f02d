"""What was measured of each composite on each built-in model kind, where it was no better than random.

``benchmarks/evaluation.py --composites … --readme`` measures every named composite on the
built-in model kinds (deletion ABPC on held-out BBC News and VADER documents, with 95 % bootstrap
intervals, against the random baseline in the same run) and writes here the pairs whose paired
difference from random is not above 0 by its interval. Such a composite is never that kind's
default, and :func:`measured_note` gives the one line that says so when it is chosen.

>>> measured_note("text-cnn", "epsilon") is None
True
>>> sample = {"bow-mlp": {"corpus": "bbc", "abpc": -3.7, "low": -4.64, "high": -2.86, "random": 0.12,
...           "random_low": -0.2, "random_high": 0.5, "documents": 30}}
>>> print(measured_note("bow-mlp", "epsilon-gamma-box", {"epsilon-gamma-box": sample}))
epsilon-gamma-box on bow-mlp models was no better than random: deletion ABPC -3.70 [-4.64, -2.86] against random 0.12 [-0.20, 0.50] (30 held-out bbc documents; README, "Composites by model kind")
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOT_BETTER_THAN_RANDOM", "measured_note", "model_kind"]

# measured:start
NOT_BETTER_THAN_RANDOM: dict[str, dict[str, dict[str, Any]]] = {}
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
            f"{figures['corpus']} documents; README, \"Composites by model kind\")")
