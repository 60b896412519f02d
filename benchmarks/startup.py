"""Where ``doclrp explain`` spends the time before its first result: imports, spaCy, the model.

Each line is a fresh Python process (the fastest of ``--repeats`` runs, since a shared machine
only ever adds time):

* ``python``: the interpreter alone;
* ``import torch``, ``import spacy``: the two large dependencies on their own;
* ``import doclrp.cli.explain``: everything the command imports;
* ``+ load model``, ``+ load spaCy pipeline``: the shipped BBC CNN, then the word splitter;
* ``doclrp explain --text``: the whole command on a one-line document.

``-X importtime`` of the command's imports, summed by top-level package (self time), says which
packages the imports cost.

    python benchmarks/startup.py [--repeats 3] [--out FILE]

Results: printed, and written to ``benchmarks/results/startup.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from measure import add_out_argument, results_path, write_results

MODEL = "from doclrp import pretrained_path; from doclrp.models.loading import load_model; " \
        "pipeline = load_model(pretrained_path())"
STEPS = {
    "python": "pass",
    "import torch": "import torch",
    "import spacy": "import spacy",
    "import doclrp.cli.explain": "import doclrp.cli.explain",
    "+ load model": f"import doclrp.cli.explain; {MODEL}",
    "+ load spaCy pipeline": f"import doclrp.cli.explain; {MODEL}; from doclrp.text import load_spacy; load_spacy()",
}


def fastest(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def import_times() -> dict[str, float]:
    """Seconds of import (self time) per top-level package, from ``-X importtime``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import doclrp.cli.explain"], check=True,
                          capture_output=True, text=True)
    totals: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        totals[name.strip().split(".")[0]] += int(self_us) / 1e6
    return dict(totals.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    from doclrp import pretrained_path

    results: dict[str, Any] = {"seconds": {}}
    for name, code in STEPS.items():
        results["seconds"][name] = fastest([sys.executable, "-c", code], args.repeats)
        print(f"{name:28s} {results['seconds'][name]:6.2f} s", flush=True)
    command = [sys.executable, "-m", "doclrp.cli", "explain", "--model", str(pretrained_path()), "--text",
               "Shares rose after the results."]
    results["seconds"]["doclrp explain --text"] = fastest(command, args.repeats)
    print(f"{'doclrp explain --text':28s} {results['seconds']['doclrp explain --text']:6.2f} s")
    results["import_seconds_by_package"] = import_times()
    print("imports by package (self time, s): " + ", ".join(
        f"{name} {seconds:.2f}" for name, seconds in list(results["import_seconds_by_package"].items())[:12]))
    write_results(results_path(args, __file__), __file__, args, results)


if __name__ == "__main__":
    main()
