"""Speed and memory of AttnLRP and CP-LRP on a BERT classifier against plain gradient × input.

The model of the issue: a 4-layer, 256-hidden BERT sequence classifier (4 heads,
intermediate 1024, vocabulary 30,522, 5 classes, random weights, eval mode) at batch
16 × 256 tokens; the model's own attention kernel (SDPA) in every mode. ``--family llama``
builds a decoder classifier of the same size instead (RMSNorm, gated MLP, rotary positions),
``--family deberta-v2`` a DeBERTa v3-style encoder (disentangled attention, recomputed by its rule). Per mode,
the median wall time of one call and the peak memory it adds, as ratios to
gradient × input, all in one process (CUDA: ``max_memory_allocated``; CPU: the
profiler's peak of PyTorch allocations).

    python benchmarks/transformers_speed.py [--device cpu|cuda] [--repeats 7] [--dtype float32|bfloat16]
                                            [--family bert|llama|deberta-v2] [--out FILE]

Results: printed, and written to
``benchmarks/results/transformers_speed-<family>-<device>-<batch>x<length>[-<dtype>][-threads<n>].json``
(or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

import doclrp  # noqa: E402
from measure import (  # noqa: E402
    add_out_argument, gradient_x_input, median_seconds, peak_bytes, results_path, write_results)

MODES = ["forward", "gradient_x_input", "lrp_attnlrp", "lrp_cp_lrp"]


def build(device: str, dtype: torch.dtype, batch: int, length: int, family: str = "bert"):
    torch.manual_seed(0)
    size = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024, num_labels=5)
    if family == "bert":
        model = BertForSequenceClassification(BertConfig(**size, max_position_embeddings=512))
    else:  # the same size (tokens are the BERT vocabulary's ids: only the size matters)
        extra = {"num_key_value_heads": 4} if family == "llama" else {
            "relative_attention": True, "pos_att_type": ["p2c", "c2p"], "position_buckets": 256,
            "share_att_key": True, "position_biased_input": False, "norm_rel_ebd": "layer_norm", "type_vocab_size": 0}
        config = transformers.AutoConfig.for_model(family, **size, vocab_size=30522, pad_token_id=0, **extra)
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    model = model.to(device=device, dtype=dtype).eval()
    ids = torch.randint(1000, model.config.vocab_size, (batch, length), device=device)
    kwargs = {"attention_mask": torch.ones_like(ids),
              "position_ids": torch.arange(length, device=device).expand(batch, length)}
    return model, ids, kwargs


EPS = 0.0


def run_mode(mode, model, ids, kwargs):
    if mode == "forward":
        with torch.no_grad():
            return model(ids, **kwargs).logits
    if mode == "gradient_x_input":
        return gradient_x_input(model, ids, model.get_input_embeddings(), kwargs)
    composite = doclrp.get_composite("attnlrp" if mode == "lrp_attnlrp" else "cp-lrp", eps=EPS)
    return doclrp.attribute(model, ids, composite=composite, forward_kwargs=kwargs).relevance


def measure(model, ids, kwargs, device, repeats) -> dict:
    """``{mode: (median seconds, peak bytes)}``, the times taken in interleaved rounds."""
    calls = {mode: (lambda mode=mode: run_mode(mode, model, ids, kwargs)) for mode in MODES}
    seconds = median_seconds(calls, device, repeats)
    return {mode: (seconds[mode], peak_bytes(call, device)) for mode, call in calls.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--eps", type=float, default=0.0, help="ε of the Linear rules (0: LRP-0)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--family", default="bert", choices=["bert", "llama", "deberta-v2"])
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    global EPS
    EPS = args.eps
    dtype = getattr(torch, args.dtype)
    model, ids, kwargs = build(args.device, dtype, args.batch, args.length, args.family)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; transformers {transformers.__version__}; {args.family}; {args.dtype}; "
          f"attention {model.config._attn_implementation}; eps {EPS}; batch {args.batch} x {args.length}; median of {args.repeats} interleaved rounds")
    results = measure(model, ids, kwargs, args.device, args.repeats)
    base_t, base_m = results["gradient_x_input"][0], max(results["gradient_x_input"][1], 1)
    print(f"{'mode':<18}{'time ms':>10}{'x grad*in':>11}{'peak MiB':>10}{'x grad*in':>11}")
    figures = {}
    for mode in MODES:
        t, m = results[mode]
        print(f"{mode:<18}{t * 1e3:>10.1f}{t / base_t:>11.2f}{m / 2**20:>10.1f}{m / base_m:>11.2f}")
        figures[mode] = {"seconds": t, "time_ratio": t / base_t, "peak_bytes": m, "memory_ratio": m / base_m}
    variant = (args.family, args.device, f"{args.batch}x{args.length}", "" if args.dtype == "float32" else args.dtype,
               f"threads{args.threads}" if args.threads else "")
    write_results(results_path(args, __file__, *variant), __file__, args,
                  {"ratios_to": "gradient_x_input", "attention": model.config._attn_implementation, "modes": figures},
                  device=args.device)


if __name__ == "__main__":
    main()
