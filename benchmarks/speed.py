"""Speed and memory of doclrp LRP against plain gradient × input, measured in the same process.

Models (as in the issues): a text CNN (vocab 20,000, embedding 300, seq 400, conv 3/4/5 × 100,
max-pool over time, 20 classes, batch 64), a bag-of-words MLP (20,000 → 500 → 500 → 20,
batch 256) and a bidirectional LSTM (vocab 20,000, embedding 300, hidden 256 per direction,
seq 400, max over time, 20 classes, batch 64; issue 13). For each: median wall time of forward, gradient × input and doclrp with
``epsilon`` and ``epsilon-plus``, and the peak memory each one adds, as ratios to
gradient × input. Memory: on CUDA ``max_memory_allocated``; on CPU the peak of the
allocations PyTorch's profiler records during one call. "left alive" counts tensors that
outlive the call (should be 0).

    python benchmarks/speed.py [--device cpu|cuda] [--repeats 7] [--models text-cnn bow-mlp bilstm]
                               [--quick] [--dense] [--threads 1 2] [--background N] [--out FILE]

``--threads 1 2`` measures with each number of torch threads in turn, side by side;
``--background N`` runs N processes of the same kind of work beside every measurement (each a
loop of gradient × input on the same model with one thread), as another job on a shared box
would, and measures without them too (under "background 0"), so the contention's cost shows.
``--dense`` switches off the sparse Conv1d path (for comparison); ``--quick`` runs every model
on a batch of 8 and 100 tokens (a check in seconds, not the issue's figures). Results: printed,
and written to ``benchmarks/results/speed-<device>[-<models>][-quick][-dense].json`` (or ``--out``;
``<models>`` only where not all three ran).
"""

from __future__ import annotations

import argparse
import gc

import torch
from torch import nn

import doclrp
from measure import add_out_argument, gradient_x_input, median_seconds, peak_bytes, results_path, write_results

MODES = ["forward", "gradient_x_input", "lrp_epsilon", "lrp_epsilon_plus"]
MODELS = ["text-cnn", "bow-mlp", "bilstm"]
# --quick: (batch, tokens) of the token models
QUICK = (8, 100)


class KimCNN(nn.Module):
    def __init__(self, vocab=20_000, dim=300, widths=(3, 4, 5), channels=100, classes=20):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, w) for w in widths)
        self.relus = nn.ModuleList(nn.ReLU() for _ in widths)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.out = nn.Linear(channels * len(widths), classes)

    def forward(self, ids):
        e = self.embedding(ids).transpose(1, 2)
        return self.out(torch.cat([self.pool(r(c(e))).squeeze(-1) for c, r in zip(self.convs, self.relus)], 1))


class BiLSTM(nn.Module):
    """Embedding → bidirectional LSTM → max over time → Linear (as doclrp's TextLSTM, without dropout)."""

    def __init__(self, vocab=20_000, dim=300, hidden=256, classes=20):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, ids):
        return self.out(self.pool(self.lstm(self.embedding(ids))[0].transpose(1, 2)).squeeze(-1))


def build(model_name: str, device: str, quick: bool = False):
    torch.manual_seed(0)
    batch, tokens = QUICK if quick else (64, 400)
    if model_name in ("text-cnn", "bilstm"):
        model = KimCNN() if model_name == "text-cnn" else BiLSTM()
        inputs = torch.randint(1, 20_000, (batch, tokens))
    else:
        model = nn.Sequential(nn.Linear(20_000, 500), nn.ReLU(), nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, 20))
        inputs = torch.rand(256, 20_000) * (torch.rand(256, 20_000) < 0.01)
    return model.to(device).eval(), inputs.to(device)


def run_mode(mode: str, model, inputs):
    if mode == "forward":
        with torch.no_grad():
            return model(inputs)
    if mode == "gradient_x_input":
        return gradient_x_input(model, inputs, None if inputs.is_floating_point() else model.embedding)
    composite = "epsilon" if mode == "lrp_epsilon" else "epsilon-plus"
    return doclrp.attribute(model, inputs, composite=composite).relevance


def time_modes(model_name, device, repeats, quick=False):
    model, inputs = build(model_name, device, quick)
    calls = {mode: (lambda mode=mode: run_mode(mode, model, inputs)) for mode in MODES}
    return median_seconds(calls, device, repeats)


def live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def memory_of_mode(model_name, mode, device, quick=False) -> dict:
    """Peak memory added by one call, and tensors left alive after it."""
    model, inputs = build(model_name, device, quick)
    run_mode(mode, model, inputs)  # warm-up: lazy initialisations are not the call's memory
    before_tensors = live_tensors()
    peak = peak_bytes(lambda: run_mode(mode, model, inputs), device)
    return {"peak": peak, "leftover_tensors": live_tensors() - before_tensors}


def memory_modes(model_name, device, quick=False):
    return {mode: memory_of_mode(model_name, mode, device, quick) for mode in MODES}


def measure_models(args) -> dict:
    results = {}
    for model_name in args.models:
        times = time_modes(model_name, args.device, args.repeats, args.quick)
        memory = ({mode: {"peak": 0, "leftover_tensors": 0} for mode in MODES} if args.time_only
                  else memory_modes(model_name, args.device, args.quick))
        base_t, base_m = times["gradient_x_input"], max(memory["gradient_x_input"]["peak"], 1)
        print(f"\n{model_name}")
        print(f"{'mode':<18}{'time ms':>10}{'× grad×in':>11}{'peak MiB':>10}{'× grad×in':>11}{'left alive':>12}")
        results[model_name] = {}
        for mode in MODES:
            t, m = times[mode], memory[mode]
            print(f"{mode:<18}{t * 1e3:>10.1f}{t / base_t:>11.2f}{m['peak'] / 2**20:>10.1f}"
                  f"{m['peak'] / base_m:>11.2f}{m['leftover_tensors']:>12d}", flush=True)
            results[model_name][mode] = {"seconds": t, "time_ratio": t / base_t, "peak_bytes": m["peak"],
                                         "memory_ratio": m["peak"] / base_m,
                                         "leftover_tensors": m["leftover_tensors"]}
    return results


def load_worker(model_name: str, device: str, quick: bool) -> None:
    """Gradient × input on the model in a loop, one thread, until killed: the background load."""
    torch.set_num_threads(1)
    model, inputs = build(model_name, device, quick)
    while True:
        run_mode("gradient_x_input", model, inputs)


def start_load(n: int, model_name: str, device: str, quick: bool) -> list:
    import subprocess
    import sys
    import time

    workers = [subprocess.Popen([sys.executable, __file__, "--device", device, "--load-worker", model_name,
                                 "1" if quick else "0"]) for _ in range(n)]
    if workers:
        time.sleep(5)  # built and looping before the first measurement
    return workers


def stop_load(workers: list) -> None:
    for worker in workers:
        worker.kill()
        worker.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--quick", action="store_true", help="token models on 8 × 100 tokens: a check in seconds")
    parser.add_argument("--dense", action="store_true", help="switch off the sparse Conv1d path")
    parser.add_argument("--sparse-gpu", action="store_true", help="use the sparse Conv1d path on CUDA too")
    parser.add_argument("--threaded-sparse", action="store_true",
                        help="let the sparse Conv1d rules use every thread (as before issue 28), to compare")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="torch CPU threads: one count, or several measured in turn (e.g. 1 2)")
    parser.add_argument("--time-only", action="store_true", help="skip the memory measurements")
    parser.add_argument("--background", type=int, default=0, metavar="N",
                        help="also measure beside N processes running gradient × input on the same model")
    parser.add_argument("--load-worker", nargs=2, metavar=("MODEL", "QUICK"), help=argparse.SUPPRESS)
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.load_worker:
        return load_worker(args.load_worker[0], args.device, args.load_worker[1] == "1")
    from doclrp.core import linear

    if args.dense:
        linear.SPARSE_DENSITY = 0.0
    if args.sparse_gpu:
        linear.SPARSE_DEVICES = ("cpu", "cuda")
    if args.threaded_sparse:
        linear.ONE_THREAD_SPARSE = False
    threads = args.threads or [torch.get_num_threads()]
    loads = [0, args.background] if args.background else [0]
    results, settings = {}, {}
    for background in loads:
        workers = start_load(background, args.models[0], args.device, args.quick)
        try:
            for count in threads:
                torch.set_num_threads(count)
                key = f"threads {count}, background {background}"
                name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({count} threads)"
                print(f"\n== {key} ==\ndevice: {name}; torch {torch.__version__}; median of {args.repeats} "
                      f"interleaved rounds; sparse Conv1d path {'off' if args.dense else 'on'}", flush=True)
                settings[key] = measure_models(args)
        finally:
            stop_load(workers)
    if len(settings) == 1:
        results = next(iter(settings.values()))
    else:
        results = settings
        print("\nside by side: LRP-ε and LRP-ε+ time as a multiple of gradient × input")
        for key, models in settings.items():
            print(f"  {key:28s} " + "; ".join(
                f"{model} ε {modes['lrp_epsilon']['time_ratio']:.2f}x, ε+ {modes['lrp_epsilon_plus']['time_ratio']:.2f}x "
                f"(gradient × input {modes['gradient_x_input']['seconds'] * 1e3:.0f} ms)"
                for model, modes in models.items()))
    models = "" if sorted(args.models) == sorted(MODELS) else "+".join(args.models)
    variant = (args.device, models, "quick" if args.quick else "", "dense" if args.dense else "",
               "threads" + "+".join(map(str, args.threads)) if args.threads else "",
               f"background{args.background}" if args.background else "",
               "threaded-sparse" if args.threaded_sparse else "")
    write_results(results_path(args, __file__, *variant), __file__, args,
                  {"ratios_to": "gradient_x_input", "models": results}, device=args.device)


if __name__ == "__main__":
    main()
