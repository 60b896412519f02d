"""Timing and memory helpers shared by the speed benchmarks (imported from the scripts' folder).

    median_seconds(calls, device, repeats)  wall time of one call of each, in interleaved rounds
    gradient_x_input(model, inputs, …)      the baseline every ratio is taken against
    peak_bytes(fn, device)                memory one call adds at its peak
"""

from __future__ import annotations

import gc
import statistics
import time

import torch


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def median_seconds(calls: dict, device: str, repeats: int) -> dict:
    """``{name: median wall time of calls[name]()}`` over ``repeats`` rounds, after one warm-up
    call each (CUDA synchronized). Each round calls every function once, in turn, so that a
    slow spell of a shared machine falls on all of them alike rather than on one."""
    for fn in calls.values():
        fn()
    samples = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            sync(device)
            start = time.perf_counter()
            result = fn()
            sync(device)
            samples[name].append(time.perf_counter() - start)
            del result
    return {name: statistics.median(times) for name, times in samples.items()}


def cpu_peak(fn) -> int:
    """Peak bytes allocated by PyTorch during ``fn()`` (allocations minus frees, in time order)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def peak_bytes(fn, device: str) -> int:
    """Memory that one call of ``fn()`` adds at its peak: ``max_memory_allocated`` on CUDA,
    the profiler's record of PyTorch allocations on the CPU."""
    gc.collect()
    if device != "cuda":
        return cpu_peak(fn)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    result = fn()
    torch.cuda.synchronize()
    del result
    return torch.cuda.max_memory_allocated() - base


def gradient_x_input(model, inputs, embedding=None, forward_kwargs=None):
    """The baseline: one forward, one backward, relevance = input ⊙ gradient of the largest output.

    With ``embedding`` (a module of ``model``) the relevance is taken at its output and summed
    per token, as doclrp does for token ids; without, at ``inputs`` themselves.
    """
    if embedding is None:
        leaf = inputs.detach().requires_grad_(True)
        out = model(leaf, **(forward_kwargs or {}))
    else:
        captured = {}

        def take(module, args, output):
            captured["leaf"] = output.detach().requires_grad_(True)
            return captured["leaf"]

        handle = embedding.register_forward_hook(take)
        try:
            out = model(inputs, **(forward_kwargs or {}))
        finally:
            handle.remove()
        leaf = captured.pop("leaf")
    logits = getattr(out, "logits", out)
    (grad,) = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), leaf)
    relevance = leaf.detach() * grad
    return relevance if embedding is None else relevance.sum(-1)
