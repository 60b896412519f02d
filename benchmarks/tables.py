"""Print the results files of the benchmarks as Markdown tables, each with its machine and versions.

    python benchmarks/tables.py [FILE.json ...]      # default: every file in benchmarks/results/

What ``benchmarks/README.md`` shows of a run comes from here, so figures are read from the
JSON a script wrote, not typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from measure import RESULTS

__all__ = ["describe", "main", "tables"]


def describe(record: dict) -> str:
    """One line: when, where and with what a results file was measured."""
    machine, versions = record["machine"], record["versions"]
    where = f"{machine['cpu']}, {machine['cores_usable']} cores usable, {machine['torch_threads']} torch threads"
    if machine.get("gpu"):
        where += f", {machine['gpu']['name']}"
    start, end = machine.get("load_average_at_start"), machine.get("load_average_at_end")
    if start and end:  # the 1-minute figures: above the core count, other jobs shared the CPU
        where += f", load average {start[0]} → {end[0]}"
    software = ", ".join(f"{name} {versions[name]}" for name in ("torch", "transformers", "doclrp") if versions.get(name))
    commit = (versions.get("doclrp_commit") or "")[:10]
    return f"{record['date'][:10]}; {where}; {software}" + (f" (commit {commit})" if commit else "")


def _ratio_rows(modes: dict) -> list[str]:
    alive = all("leftover_tensors" in f for f in modes.values())
    rows = ["| mode | time ms | × grad×in | peak MiB | × grad×in |" + (" left alive |" if alive else ""),
            "|---|---|---|---|---|" + ("---|" if alive else "")]
    for mode, f in modes.items():
        rows.append(f"| {mode} | {f['seconds'] * 1e3:.1f} | {f['time_ratio']:.2f} | "
                    f"{f['peak_bytes'] / 2**20:.1f} | {f['memory_ratio']:.2f} |"
                    + (f" {f['leftover_tensors']} |" if alive else ""))
    return rows


def _speed(results: dict) -> list[str]:
    rows = []
    for model, modes in results["models"].items():
        rows += [f"{model}:", "", *_ratio_rows(modes), ""]
    return rows


def _transformers_speed(results: dict) -> list[str]:
    return _ratio_rows(results["modes"])


def _peers(results: dict) -> list[str]:
    rows = []
    for key, section in results.items():
        if not isinstance(section, dict):
            continue
        rows += [f"{section['title']}:", "", "| method | × grad×in time | × grad×in memory | relative L2 to doclrp |",
                 "|---|---|---|---|"]
        for name, f in section["methods"].items():
            distance = f"{f['relative_l2']:.1e}" if "relative_l2" in f else ""
            rows.append(f"| {name} | {f['time_ratio']:.2f} | {f['memory_ratio']:.2f} | {distance} |")
        if "captum LRP" in section:
            rows.append(f"| captum LRP | {section['captum LRP']} | | |")
        rows.append("")
    return rows


def _corpus_throughput(results: dict) -> list[str]:
    s, r = results["seconds"], results["ratios"]
    rows = ["| line | seconds |", "|---|---|"] + [f"| {k.replace('_', ' ')} | {v:.2f} |" for k, v in s.items()]
    rows += ["", f"{results['documents']} documents, {results['documents_per_second']:.0f} documents/s, "
             f"{results['output_bytes'] / 1e6:.1f} MB; explain / predict {r['explain_to_predict']:.2f}×, "
             f"/ predict all windows {r['explain_to_all_windows']:.2f}×, "
             f"/ predict as called {r['explain_to_predict_as_called']:.2f}×"]
    if "profile" in results:
        total = results["profile"]["seconds_with_profiler"]
        rows += ["", "| phase (cProfile) | share |", "|---|---|"]
        rows += [f"| {phase} | {100 * value / total:.0f} % |"
                 for phase, value in results["profile"]["phases_seconds"].items()]
    return rows


def _transformers_faithfulness(results: dict) -> list[str]:
    drops = results["mean_logit_drop"]
    rows = ["| words deleted | mean drop of the explained logit |", "|---|---|"]
    rows += [f"| {results['words_removed']} most relevant ({m}) | {v:.3f} |" for m, v in drops["most_relevant"].items()]
    return rows + [f"| {results['words_removed']} random | {drops['random_words']:.3f} |",
                   "", f"{results['documents']} documents"]


def _vader_sanity(results: dict) -> list[str]:
    r2 = (results.get("test_r2") or {}).get("compound")
    return [f"{results['model_class']}: test R² compound {r2:.2f}; Pearson r {results['pearson_r']:.3f} over "
            f"{results['words']} words (untrained control {results['control_pearson_r']:.3f}); "
            f"{results['sentences']} sentences explained in {results['explain_seconds']:.1f} s"]


FORMATS = {"speed.py": _speed, "transformers_speed.py": _transformers_speed, "peers.py": _peers,
           "corpus_throughput.py": _corpus_throughput,
           "transformers_faithfulness.py": _transformers_faithfulness, "vader_sanity.py": _vader_sanity}


def tables(path: Path) -> str:
    """The Markdown of one results file: its name, the machine line and the figures."""
    record = json.loads(Path(path).read_text())
    lines = [f"`{Path(path).name}` — {describe(record)}", ""]
    return "\n".join(lines + FORMATS[record["script"]](record["results"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or sorted(RESULTS.glob("*.json"))
    if not files:
        print(f"no results in {RESULTS}: run a benchmark first", file=sys.stderr)
        return 1
    print("\n\n".join(tables(path) for path in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
