"""Language models as classifiers and writers: the cost of explaining a prompted label and N generated
tokens against gradient × input, and agreement with LXT (the AttnLRP authors' implementation).

``speed``: a Llama-style causal LM built from a config (random weights; hidden 256, 4 layers, 4
heads, intermediate 1024, vocabulary 32,000 by default), eval mode, the model's own attention
kernel (SDPA). Per mode the median wall time of one call and the peak memory it adds, as ratios
to gradient × input of the same output, all in one process:

* label scores of 5 one-token labels after a prompt, batch × length tokens (forward, gradient ×
  input, AttnLRP, CP-LRP), and of 5 three-token labels (summed log-probabilities, one batched pass);
* ``--new`` tokens generated after a document of ``--length`` tokens, batch 1: greedy decoding
  alone (``generate``, no gradient), and each token explained (one forward step with the cache,
  one backward pass per token) with plain gradients (gradient × input) and with AttnLRP.

``lxt``: tiny Llama, Qwen2 and Gemma 2 models (float64, seeded) explained by doclrp (AttnLRP,
CP-LRP) and by LXT 2.1's ``lxt.efficient`` patches in a separate process (its patches replace
transformers' functions for the whole process, for good); the relevance of each input token for
the top next-token logit, compared. LXT is not a dependency of doclrp: ``pip install --no-deps
lxt``. On transformers 5 its package does not import as shipped (see ``_import_lxt``).

    python benchmarks/llm.py speed [--device cpu|cuda] [--dtype float32|bfloat16] [--batch 4] [--length 128]
                                   [--new 16] [--repeats 5] [--threads N] [--out FILE]
    python benchmarks/llm.py lxt [--out FILE]

Results: printed, and written to ``benchmarks/results/llm-speed-<device>[-<dtype>].json`` and
``benchmarks/results/llm-lxt.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import torch  # noqa: E402
import transformers  # noqa: E402

import doclrp  # noqa: E402
from doclrp._generate import explain_generation  # noqa: E402
from doclrp.models.hf.label_scores import LabelScores  # noqa: E402
from doclrp.models.hf.prompted import PromptedLM  # noqa: E402
from measure import add_out_argument, median_seconds, peak_bytes, results_path, write_results  # noqa: E402

LABELS = 5


def word_tokenizer(vocabulary: int):
    """A word-level fast tokenizer over the words w0 … w{vocabulary-1}, built in memory (w0: padding)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel({f"w{i}": i for i in range(vocabulary)}, unk_token="w1"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="w1", pad_token="w0",
                                   model_max_length=4096)


def language_model(device: str, dtype: torch.dtype, hidden: int, layers: int, vocabulary: int):
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        "llama", hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        intermediate_size=4 * hidden, vocab_size=vocabulary, pad_token_id=0, max_position_embeddings=4096)
    return transformers.AutoModelForCausalLM.from_config(config).to(device=device, dtype=dtype).eval()


def label_modes(lm, ids, kwargs, width: int) -> dict:
    """Forward, gradient × input, AttnLRP and CP-LRP of ``LABELS`` labels of ``width`` tokens."""
    generator = torch.Generator().manual_seed(1)
    label_ids = torch.randint(10, lm.config.vocab_size, (LABELS, width), generator=generator).tolist()
    scores = LabelScores(lm, label_ids).to(ids.device).eval()

    def forward():
        with torch.no_grad():
            return scores(ids, **kwargs)

    def explain(method):
        return lambda: method.attribute(scores, ids, None, forward_kwargs=kwargs).relevance

    return {"forward": forward, "gradient_x_input": explain(doclrp.resolve_method("gradient-x-input")),
            "attnlrp": explain(doclrp.resolve_method("attnlrp")), "cp_lrp": explain(doclrp.resolve_method("cp-lrp"))}


def generation_modes(lm, tokenizer, length: int, new: int) -> dict:
    """Greedy decoding alone, and each token explained with the plain gradient and with AttnLRP."""
    prompted = PromptedLM(lm, tokenizer, "w2 w3 {text} w4")
    generator = torch.Generator().manual_seed(2)
    text = " ".join(f"w{i}" for i in torch.randint(10, lm.config.vocab_size, (length,), generator=generator).tolist())
    [(ids, _)] = prompted.tokens([text])
    inputs, kwargs, _, _ = prompted.collate_rows([ids])

    def generate():
        with torch.no_grad():
            return lm.generate(inputs, attention_mask=kwargs["attention_mask"], max_new_tokens=new, min_new_tokens=new,
                               do_sample=False, pad_token_id=0)

    def explain(method):
        return lambda: explain_generation(prompted, text, max_new_tokens=new, method=method)

    return {"generate": generate, "gradient_x_input": explain("gradient-x-input"), "attnlrp": explain("attnlrp")}


def run_speed(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    lm = language_model(args.device, dtype, args.hidden, args.layers, args.vocabulary)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, args.vocabulary, (args.batch, args.length), generator=generator).to(args.device)
    mask = torch.ones_like(ids)
    kwargs = {"attention_mask": mask, "position_ids": (mask.cumsum(1) - 1)}
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; transformers {transformers.__version__}; {args.dtype}; "
          f"Llama-style LM hidden {args.hidden}, {args.layers} layers, vocabulary {args.vocabulary}; "
          f"attention {lm.config._attn_implementation}; median of {args.repeats} interleaved rounds")
    experiments = {
        f"labels: {LABELS} one-token labels, batch {args.batch} x {args.length}": label_modes(lm, ids, kwargs, 1),
        f"labels: {LABELS} three-token labels, batch {args.batch} x {args.length}": label_modes(lm, ids, kwargs, 3),
        f"generation: {args.new} tokens after {args.length}": generation_modes(lm, word_tokenizer(args.vocabulary),
                                                                             args.length, args.new),
    }
    figures = {}
    for experiment, calls in experiments.items():
        seconds = median_seconds(calls, args.device, args.repeats)
        memory = {mode: peak_bytes(call, args.device) for mode, call in calls.items()}
        base_t, base_m = seconds["gradient_x_input"], max(memory["gradient_x_input"], 1)
        print(f"\n{experiment}\n{'mode':<18}{'time ms':>10}{'x grad*in':>11}{'peak MiB':>10}{'x grad*in':>11}")
        rows = {}
        for mode in calls:
            t, m = seconds[mode], memory[mode]
            print(f"{mode:<18}{t * 1e3:>10.1f}{t / base_t:>11.2f}{m / 2**20:>10.1f}{m / base_m:>11.2f}")
            rows[mode] = {"seconds": t, "time_ratio": t / base_t, "peak_bytes": m, "memory_ratio": m / base_m}
        figures[experiment] = rows
    variant = ("speed", args.device, "" if args.dtype == "float32" else args.dtype,
               f"threads{args.threads}" if args.threads else "")
    write_results(results_path(args, __file__, *variant), __file__, args,
                  {"ratios_to": "gradient_x_input", "attention": lm.config._attn_implementation, "experiments": figures},
                  device=args.device)


# -- agreement with LXT ----------------------------------------------------------------------------
FAMILIES = ("llama", "qwen2", "gemma2")
COMPOSITES = ("attnlrp", "cp-lrp")


def tiny_lm(family: str):
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        family, vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        head_dim=8, intermediate_size=32, pad_token_id=0, initializer_range=0.2)
    lm = transformers.AutoModelForCausalLM.from_config(config).eval().double()
    with torch.no_grad():  # random biases (Qwen2's q/k/v), as doclrp's tests have them
        for module in lm.modules():
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.uniform_(-0.5, 0.5)
    ids = torch.randint(3, 60, (1, 12), generator=torch.Generator().manual_seed(1))
    return lm, ids


def _import_lxt(family: str):
    """LXT 2.1's patch map of ``family``. Two things stop it on transformers 5, worked around here:
    importing ``lxt.efficient`` imports its vendored BERT, which imports
    ``transformers.pytorch_utils.find_pruneable_heads_and_indices`` (gone in transformers 5): the
    family's module is loaded without the package's ``__init__``; and its attention patch replaces
    ``ALL_ATTENTION_FUNCTIONS`` of the family's module with a plain dict, on which transformers 5
    calls ``.get_interface``: the dict gets that method."""
    import lxt

    root = Path(lxt.__file__).parent / "efficient"
    for name, path in (("lxt.efficient", root), ("lxt.efficient.models", root / "models")):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    try:
        return importlib.import_module(f"lxt.efficient.models.{family}")
    except ModuleNotFoundError:
        return None


class _Interfaces(dict):
    def get_interface(self, name, default):
        return self.get(name, default)


def lxt_worker(family: str, composite: str) -> dict:
    """In a process of its own: LXT's relevance for the top next-token logit of the tiny model."""
    patches = _import_lxt(family)
    if patches is None:
        return {"error": f"LXT 2.1 has no patch map for {family} (lxt.efficient.models has llama, qwen2, qwen3, "
                         "gemma3, bert, gpt2)"}
    for target, patch in (patches.attnLRP if composite == "attnlrp" else patches.cp_LRP).items():
        patch(target)
    modeling = importlib.import_module(f"transformers.models.{family}.modeling_{family}")
    modeling.ALL_ATTENTION_FUNCTIONS = _Interfaces(modeling.ALL_ATTENTION_FUNCTIONS)
    lm, ids = tiny_lm(family)
    embeddings = lm.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = lm(inputs_embeds=embeddings).logits[0, -1]
    token = int(logits.argmax())
    logits[token].backward()
    return {"token": token, "value": float(logits[token]),
            "relevance": (embeddings * embeddings.grad).sum(-1)[0].tolist()}


def run_lxt(args) -> None:
    figures = {}
    print(f"LXT {_lxt_version()} against doclrp, transformers {transformers.__version__}, float64")
    print(f"{'family':<8}{'method':<9}{'max |diff|':>12}{'rel. L2':>10}{'sum doclrp':>12}{'sum LXT':>10}")
    for family in FAMILIES:
        for composite in COMPOSITES:
            done = subprocess.run([sys.executable, __file__, "lxt-worker", family, composite], capture_output=True,
                                  text=True, timeout=600)
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines()
                theirs = {"error": lines[-1] if lines else f"exit {done.returncode}"}
            else:
                theirs = json.loads(done.stdout.strip().splitlines()[-1])
            if "error" in theirs:
                print(f"{family:<8}{composite:<9}  {theirs['error']}")
                figures[f"{family} {composite}"] = theirs
                continue
            lm, ids = tiny_lm(family)
            scores = LabelScores(lm, [[theirs["token"]]]).eval()
            ours = doclrp.attribute(scores, ids, target=0, composite=composite)
            relevance = ours.relevance[0]
            reference = torch.tensor(theirs["relevance"], dtype=torch.float64)
            difference = float((relevance - reference).abs().max())
            relative = float((relevance - reference).norm() / reference.norm())
            print(f"{family:<8}{composite:<9}{difference:>12.2e}{relative:>10.2e}{float(relevance.sum()):>12.5f}"
                  f"{float(reference.sum()):>10.5f}")
            figures[f"{family} {composite}"] = {
                "max_abs_difference": difference, "relative_l2_difference": relative,
                "value_doclrp": float(ours.target_output), "value_lxt": theirs["value"],
                "sum_doclrp": float(relevance.sum()), "sum_lxt": float(reference.sum())}
    write_results(results_path(args, __file__, "lxt"), __file__, args, {"lxt": _lxt_version(), "pairs": figures})


def _lxt_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("lxt")
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "lxt-worker":
        print(json.dumps(lxt_worker(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["speed", "lxt"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--new", type=int, default=16, help="tokens generated and explained")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocabulary", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.part == "speed":
        run_speed(args)
    else:
        run_lxt(args)


if __name__ == "__main__":
    main()
