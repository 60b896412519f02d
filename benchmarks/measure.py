"""Timing and memory helpers shared by the speed benchmarks (imported from the scripts' folder).

    median_seconds(fn, device, repeats)   wall time of one call, after a warm-up call
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


def median_seconds(fn, device: str, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after one warm-up call (CUDA synchronized)."""
    fn()
    samples = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        result = fn()
        sync(device)
        samples.append(time.perf_counter() - start)
        del result
    return statistics.median(samples)


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
