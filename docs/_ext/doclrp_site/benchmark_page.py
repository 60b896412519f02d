"""The benchmark results page, generated from ``benchmarks/results/*.json`` by
``benchmarks/tables.py`` (the same tables that script prints), each with the machine, its load
and the versions it was measured with.

>>> "## `serve.json`" in results_markdown()
True
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["BENCHMARKS", "results_markdown"]

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def results_markdown(folder: Path = BENCHMARKS) -> str:
    """Every results file under ``folder/results`` as Markdown, newest script first by name."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # tables.py imports its sibling measure.py by name
    from tables import tables

    files = sorted((folder / "results").glob("*.json"))
    lines = ["# Benchmark results", "",
             "Every results file in `benchmarks/results/`, rendered when the site is built by the same code as "
             "`python benchmarks/tables.py`, so no figure here is typed by hand. Each file says when it was measured, "
             "on which machine, with the load average as the run started and ended (a 2-core machine above a load "
             "of 2 was shared with other jobs, and its times scatter), and with which versions. What each script "
             "measures, and how to read it, is on [Benchmarks](../benchmarks.md).", ""]
    for path in files:
        lines += [tables(path).replace("### ", "## ", 1), ""]
    return "\n".join(lines)
