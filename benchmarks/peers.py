"""doclrp against the PyTorch attribution libraries it has to beat: Zennit, Captum and LXT.

Same models, same inputs, same process. Per peer: how far its relevance is from doclrp's
with the rules that should agree (relative L2 distance, and the correlation), and the time
and peak memory of one call, both as ratios to plain gradient × input, timed in interleaved
rounds (medians).

- an image CNN (conv-ReLU-max-pool twice, two dense layers; batch 64 × 1 × 28 × 28):
  doclrp ``epsilon-plus`` against Zennit's ``EpsilonPlus`` (ε on dense layers, z⁺ on
  convolutions); Captum's ``LRP`` is tried on it too (it raises: its backward hooks do not
  survive ``Flatten`` after max-pooling), and compared on an MLP (784-256-128-10, batch 256)
  where it runs: doclrp LRP-ε (ε = 1e-9) against Captum's default, ε = 1e-9 on every layer;
- the BERT classifier of the transformers benchmark (4 layers, 256 hidden, batch 16 × 256):
  doclrp ``attnlrp`` against LXT's AttnLRP, the authors' implementation. LXT patches
  transformers globally and for good, so it runs last; it needs transformers 4.x (its 2.1
  release vendors 4.x model files).

    pip install zennit captum lxt "transformers<5"
    python benchmarks/peers.py [--repeats 7] [--threads 2] [--out FILE]

Results: printed, and written to ``benchmarks/results/peers.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import doclrp  # noqa: E402
from measure import (  # noqa: E402
    add_out_argument, gradient_x_input, median_seconds, peak_bytes, results_path, write_results)


def bias_free(model: nn.Module) -> nn.Module:
    """Biases zeroed: the libraries share them out by different conventions (doclrp's z⁺ counts
    a positive bias in z⁺, Zennit's does not), which is not what is compared here."""
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
    return model


def image_cnn() -> nn.Module:
    torch.manual_seed(0)
    return bias_free(nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10),
    ).eval())


def agreement(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[float, float]:
    """(relative L2 distance, Pearson correlation) over all entries, each sample's relevance
    first divided by its sum (Zennit starts from the one-hot target, doclrp from the logit:
    the same relevance up to that factor per sample)."""
    def per_sample_shares(r):
        r = r.detach().double().reshape(len(r), -1)
        return (r / r.sum(1, keepdim=True)).flatten()

    a, b = per_sample_shares(ours), per_sample_shares(theirs)
    distance = float((a - b).norm() / a.norm())
    correlation = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    return distance, correlation


def measured(calls: dict, repeats: int) -> tuple[dict, dict]:
    """``({name: median seconds}, {name: peak bytes})`` of one call each, on the CPU."""
    return median_seconds(calls, "cpu", repeats), {name: peak_bytes(call, "cpu") for name, call in calls.items()}


def report(title: str, seconds: dict, memory: dict, relevance: dict, reference: str) -> dict:
    """One row per method: time and memory as ratios to gradient × input, peers' agreement with ``reference``.
    Printed, and returned as ``{"title", "methods": {name: figures}}`` for the results file."""
    base_t, base_m = seconds["gradient x input"], max(memory["gradient x input"], 1)
    print(f"\n{title}")
    print(f"{'method':<28}{'ms':>9}{'x grad*in':>11}{'MiB':>8}{'x grad*in':>11}{'L2 vs doclrp':>14}{'corr':>8}")
    rows = {}
    for name in seconds:
        distance, correlation = ("", "")
        rows[name] = {"seconds": seconds[name], "time_ratio": seconds[name] / base_t, "peak_bytes": memory[name],
                      "memory_ratio": memory[name] / base_m}
        if name in relevance and name.split()[0] in ("zennit", "captum", "lxt"):
            d, c = agreement(relevance[reference], relevance[name])
            distance, correlation = f"{d:.2e}", f"{c:.6f}"
            rows[name].update(relative_l2_to=reference, relative_l2=d, correlation=c)
        print(f"{name:<28}{seconds[name] * 1e3:>9.1f}{seconds[name] / base_t:>11.2f}{memory[name] / 2**20:>8.1f}"
              f"{memory[name] / base_m:>11.2f}{distance:>14}{correlation:>8}")
    return {"title": title, "methods": rows}


def image_section(repeats: int) -> dict:
    from captum.attr import LRP
    from zennit.attribution import Gradient as ZennitGradient
    from zennit.composites import EpsilonPlus

    from captum.attr._utils.lrp_rules import IdentityRule

    model = image_cnn()
    x = torch.rand(64, 1, 28, 28)
    target = model(x).argmax(1)
    one_hot = torch.eye(10)[target]

    def zennit():
        with ZennitGradient(model=model, composite=EpsilonPlus(epsilon=1e-6)) as attributor:
            return attributor(x, one_hot)[1]

    calls = {
        "gradient x input": lambda: gradient_x_input(model, x),
        "doclrp epsilon-plus": lambda: doclrp.attribute(model, x, target, "epsilon-plus").relevance,
        "zennit EpsilonPlus": zennit,
    }
    relevance = {name: call() for name, call in calls.items()}
    cnn = report("image CNN, batch 64 x 1 x 28 x 28", *measured(calls, repeats), relevance, "doclrp epsilon-plus")
    model[6].rule = IdentityRule()  # Captum has no rule of its own for nn.Flatten
    try:
        LRP(model).attribute(x, target=target)
        cnn["captum LRP"] = "ran"
        print("captum LRP ran on the CNN")
    except Exception as error:  # noqa: BLE001  (what a user of Captum meets, reported)
        cnn["captum LRP"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        print(f"captum LRP on the CNN: {cnn['captum LRP']}")

    torch.manual_seed(1)
    mlp = bias_free(nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                  nn.Linear(128, 10)).eval())
    flat = torch.rand(256, 784)
    mlp_target = mlp(flat).argmax(1)
    calls = {
        "gradient x input": lambda: gradient_x_input(mlp, flat),
        "doclrp epsilon (1e-9)": lambda: doclrp.attribute(mlp, flat, mlp_target,
                                                          doclrp.get_composite("epsilon", eps=1e-9)).relevance,
        "captum LRP": lambda: LRP(mlp).attribute(flat, target=mlp_target),
    }
    relevance = {name: call() for name, call in calls.items()}
    mlp_rows = report("MLP 784-256-128-10, batch 256", *measured(calls, repeats), relevance, "doclrp epsilon (1e-9)")
    return {"image_cnn": cnn, "mlp": mlp_rows}


def bert_section(repeats: int) -> dict:
    import transformers
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                        num_labels=5, max_position_embeddings=512)
    model = BertForSequenceClassification(config).eval()
    ids = torch.randint(1000, config.vocab_size, (16, 256))
    kwargs = {"attention_mask": torch.ones_like(ids)}
    target = model(ids, **kwargs).logits.argmax(1)

    ours = {"gradient x input": lambda: gradient_x_input(model, ids, model.get_input_embeddings(), kwargs),
            "doclrp attnlrp": lambda: doclrp.attribute(model, ids, target, "attnlrp", forward_kwargs=kwargs).relevance}
    relevance = {name: call() for name, call in ours.items()}
    seconds, memory = measured(ours, repeats)

    # LXT last: it patches transformers' BERT module and torch's LayerNorm and Dropout for good
    from lxt.efficient import monkey_patch
    import transformers.models.bert.modeling_bert as modeling_bert

    monkey_patch(modeling_bert)
    patched = modeling_bert.BertForSequenceClassification(config).eval()
    patched.load_state_dict(model.state_dict())

    def lxt():
        embeds = patched.get_input_embeddings()(ids).detach().requires_grad_(True)
        logits = patched(inputs_embeds=embeds, **kwargs).logits
        logits[torch.arange(len(ids)), target].sum().backward()
        return (embeds.grad * embeds.detach()).sum(-1)

    relevance["lxt AttnLRP"] = lxt()
    lxt_seconds, lxt_memory = measured({"lxt AttnLRP": lxt}, repeats)
    return report(f"BERT 4 x 256, batch 16 x 256, transformers {transformers.__version__} "
           "(LXT timed after the others, in its own rounds)",
           {**seconds, **lxt_seconds}, {**memory, **lxt_memory}, relevance, "doclrp attnlrp")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-bert", action="store_true")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    versions = {}
    for name in ("zennit", "captum", "lxt", "transformers"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001  (a missing peer is reported, not fatal)
            versions[name] = "missing"
    print(f"CPU ({torch.get_num_threads()} threads); torch {torch.__version__}; "
          + "; ".join(f"{k} {v}" for k, v in versions.items()) + f"; median of {args.repeats} interleaved rounds")
    results = {"ratios_to": "gradient x input", **image_section(args.repeats)}
    if not args.skip_bert:
        results["bert"] = bert_section(args.repeats)
    write_results(results_path(args, __file__), __file__, args, results, packages=("zennit", "captum", "lxt"))


if __name__ == "__main__":
    main()
