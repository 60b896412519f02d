"""doclrp's AttnLRP and CP-LRP against LXT's (the authors' code) on decoders, under transformers 5.

LXT patches transformers' modules for good (class methods and attention functions), so every
(family, composite) runs in a process of its own: a tiny decoder built from a config and
seeded (2 layers, hidden 64, 4 heads, float64), two sequences of 12 tokens (unpadded);
doclrp first (``attribute(..., composite=…)``, nothing patched), then LXT (``monkey_patch`` with
its ``attnLRP`` or ``cp_LRP`` map, relevance = input embeddings ⊙ their gradient). Agreement:
the relative L2 distance of the per-token relevance of the real tokens, per sequence, the
largest reported.

LXT 2.1's BERT file does not import under transformers 5 (``find_pruneable_heads_and_indices``
is gone) and its ViT file needs torchvision, and its package ``__init__`` imports both:
stand-in modules take their place here, so the decoder files load; BERT itself is not compared here (its figure in ``benchmarks/README.md``
was measured under transformers 4.57).

    pip install lxt      # not a doclrp dependency; or its current code:
    git clone https://github.com/rachtibat/LRP-eXplains-Transformers /tmp/lxt
    PYTHONPATH=. python benchmarks/lxt_decoders.py [--lxt-source /tmp/lxt]

LXT 2.1 (PyPI) replaces transformers' attention registry by a plain ``dict``, which transformers 5
calls ``get_interface`` on: its decoders need LXT's current code (updated for transformers 5.9),
given with ``--lxt-source`` (a checkout; put first on the path, nothing installed).

Results: printed, and written to ``benchmarks/results/lxt_decoders.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAMILIES = ("llama", "qwen2", "qwen3", "gemma3", "gpt2")
COMPOSITES = {"attnlrp": "attnLRP", "cp-lrp": "cp_LRP"}
# the LXT module of each family and its transformers model type
LXT_MODULES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3": "gemma3", "gpt2": "gpt2"}
MODEL_TYPES = {"gemma3": "gemma3_text"}


def tiny_decoder(family: str):
    import torch
    import transformers

    torch.manual_seed(0)
    if family == "gpt2":
        fields = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64, "n_inner": 128,
                  "bos_token_id": 1, "eos_token_id": 2}
    else:
        fields = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                  "intermediate_size": 128, "max_position_embeddings": 64, "head_dim": 16}
    config = transformers.AutoConfig.for_model(MODEL_TYPES.get(family, family), vocab_size=100, num_labels=3,
                                               pad_token_id=0, **fields)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():  # weights of a trained model's size: the words move the logits
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.2)
    return model.double().eval()


def _inputs():
    import torch

    # no padding: given embeddings instead of ids, a decoder classifier cannot find a row's last
    # real token, and would read the padding's
    ids = torch.randint(3, 100, (2, 12), generator=torch.Generator().manual_seed(1))
    return ids, torch.ones_like(ids)


def _stub_lxt_bert() -> None:
    """LXT 2.1's models/__init__ imports its BERT file, which fails under transformers 5, and its
    ViT file, which needs torchvision: stand-ins with the two names the package reads of each."""
    for name, target, rules in (("bert", "modeling_bert", "attnLRP"), ("vit_torch", "vision_transformer", "cp_LRP")):
        stub = types.ModuleType(f"lxt.efficient.models.{name}")
        setattr(stub, target, types.ModuleType(f"{target}_stand_in"))
        setattr(stub, rules, {})
        sys.modules[f"lxt.efficient.models.{name}"] = stub


def one(family: str, composite: str) -> dict:
    import importlib

    import torch

    import doclrp

    model = tiny_decoder(family)
    ids, mask = _inputs()
    ours = doclrp.attribute(model, ids, composite=composite, forward_kwargs={"attention_mask": mask})
    target = ours.logits.argmax(1)
    _stub_lxt_bert()
    from lxt.efficient import monkey_patch

    lxt_module = importlib.import_module(f"lxt.efficient.models.{LXT_MODULES[family]}")
    modeling = importlib.import_module(f"transformers.models.{family}.modeling_{family}")
    monkey_patch(modeling, getattr(lxt_module, COMPOSITES[composite]), verbose=False)
    embeddings = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeddings, attention_mask=mask).logits
    logits[torch.arange(len(ids)), target].sum().backward()
    theirs = (embeddings * embeddings.grad).sum(-1).detach()
    assert torch.allclose(logits.detach(), ours.logits, rtol=0, atol=1e-10), "not the same outputs"
    distances = []
    for row in range(len(ids)):
        real = mask[row].bool()
        a, b = ours.relevance[row][real], theirs[row][real]
        distances.append(float((a - b).norm() / b.norm()))
    return {"family": family, "composite": composite, "relative_l2": max(distances),
            "relevance_doclrp": ours.relevance.tolist(), "relevance_lxt": theirs.tolist()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("FAMILY", "COMPOSITE"), help=argparse.SUPPRESS)
    parser.add_argument("--lxt-source", type=Path, default=None,
                        help="a checkout of LXT's repository, used instead of the installed lxt")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return 0
    from measure import write_results  # noqa: E402 (benchmarks/ is on the path when run as a script)

    rows = []
    for family in FAMILIES:
        for composite in COMPOSITES:
            path = [str(args.lxt_source)] if args.lxt_source else []
            done = subprocess.run([sys.executable, __file__, "--one", family, composite], capture_output=True,
                                  text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])})
            if done.returncode:
                reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
                rows.append({"family": family, "composite": composite, "error": reason})
                print(f"{family:8s} {composite:8s} error: {reason}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{family:8s} {composite:8s} relative L2 {row['relative_l2']:.1e}")
    import transformers

    source = "installed lxt"
    if args.lxt_source:
        commit = subprocess.run(["git", "-C", str(args.lxt_source), "log", "-1", "--format=%H %s"],
                                capture_output=True, text=True).stdout.strip()
        source = f"LXT checkout {args.lxt_source} ({commit or 'commit unknown'})"
    write_results(ROOT / "benchmarks" / "results" / "lxt_decoders.json", __file__, args,
                  {"lxt": source, "transformers": transformers.__version__, "rows": rows},
                  packages=("lxt", "transformers"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
