"""Timing and memory helpers shared by the speed benchmarks (imported from the scripts' folder).

    median_seconds(calls, device, repeats)  wall time of one call of each, in interleaved rounds
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
