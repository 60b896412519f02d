"""``explain_generation()``: what a language model writes after a document, explained token by token.

>>> from doclrp._generate import explain_generation
>>> result = explain_generation("LM", "Shares fell sharply.", "News: {text}\\nSummary:",
...                             max_new_tokens=8)                                  # doctest: +SKIP
>>> result.continuation, result.generated[0].words                               # doctest: +SKIP
(' Stocks dropped', [0.91, 0.12, 1.7, 0.02])

The model reads the prompt with the document inside it and writes ``max_new_tokens`` tokens by
greedy decoding, or is given the ``continuation`` to explain (teacher forcing). The forward pass
runs once, step by step with the model's key/value cache, under the method's rules; each
generated token's logit is then explained by one backward pass through that one graph: the
relevance of every document word, of every earlier generated token and of the prompt's words.
A document must fit the model's context with the prompt and the tokens to write: generation
is not windowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from .core import LRP, Attributor, describe
from .core.baselines import GRADIENT_EVERYWHERE, GradientXInput
from .core.composites import Composite
from .core.attachment import attach
from .errors import DoclrpError
from .models.hf.prompted import PromptedLM, PromptTemplate, load_prompted_lm
from .text import tokenize
from .text.alignment import aggregate, align
from .text.generation import GeneratedToken, GenerationExplanation
from .text.prompt import PromptColumn
from ._explain import NO_TOKENS, UnexplainableDocument, checked_names
from .core.methods import MethodSpec, resolve_method

__all__ = ["explain_generation", "MAX_GENERATE", "generation_composite"]

#: The most tokens one explanation generates (``--generate``): each costs a forward step and a
#: backward pass through the whole graph, which is kept until the last one.
MAX_GENERATE = 256


def generation_composite(attributor: Attributor) -> Composite:
    """The rules generation is explained with: an LRP composite's, or the plain gradient for
    gradient × input; other methods explain one output per pass and are refused."""
    if isinstance(attributor, LRP):
        return attributor.composite
    if isinstance(attributor, GradientXInput):
        return GRADIENT_EVERYWHERE
    raise DoclrpError(f"generation is explained with an LRP composite (attnlrp, cp-lrp) or gradient-x-input, "
                      f"not {attributor.name}")


def explain_generation(model: PromptedLM | str | Path, text: str, prompt: PromptTemplate | str | None = None, *,
                       max_new_tokens: int = 16, continuation: str | None = None, method: MethodSpec = None,
                       chat: bool = False, device: str = "cpu", allow_pickle: bool = False,
                       id: str | None = None) -> GenerationExplanation:
    """Explain each token a causal language model writes after ``text`` (inside ``prompt``).

    ``model``: a :class:`~doclrp.models.hf.prompted.PromptedLM` (a language model with its
    prompt; ``doclrp.load_model(folder, prompt=…, labels=…)`` gives one too), or a model folder,
    read with ``prompt`` (``{text}`` where the document goes; ``chat``: inside the tokenizer's
    chat template) on ``device``. ``max_new_tokens``: greedy decoding of at most
    :data:`MAX_GENERATE` tokens; ``continuation``: explain this text as the model's next words
    instead. ``method``: an LRP composite (default ``attnlrp``) or ``gradient-x-input``.
    """
    lm = _language_model(model, prompt, chat, device, allow_pickle)
    [name] = checked_names([text], None if id is None else [str(id)], single=True)
    forced = _forced_tokens(lm, continuation, max_new_tokens)
    count = len(forced) if forced is not None else max_new_tokens
    attributor = resolve_method(method if method is not None else lm.default_composite)
    composite = generation_composite(attributor)
    document = tokenize(text)
    [(ids, spans)] = lm.tokens([document])
    if not ids:
        raise UnexplainableDocument(name, NO_TOKENS)
    length = lm.prompt_length + len(ids)
    if length + count - 1 > lm.context:
        raise DoclrpError(f"the prompt and {'the document' if not name else f'document {name}'} take {length} tokens of the model's {lm.context}: "
                          f"{count} more to write do not fit (generation is not windowed); shorten the document "
                          "or write fewer tokens")
    steps = _generate(lm, composite, ids, count, forced)
    return GenerationExplanation.build(document, _tokens(lm, document, spans, steps), prompt=lm.prompt_words,
                                       method=describe(attributor),
                                       id=id, greedy=forced is None)


def _language_model(model: PromptedLM | str | Path, prompt: PromptTemplate | str | None, chat: bool, device: str,
                    allow_pickle: bool) -> PromptedLM:
    if isinstance(model, PromptedLM):
        if prompt is not None:
            raise DoclrpError("the language model already has its prompt: give prompt= with a model folder only")
        return model
    if not isinstance(model, (str, Path)):
        raise DoclrpError(f"explain_generation takes a model folder or a PromptedLM, not a {type(model).__name__}")
    if prompt is None:
        raise DoclrpError("explain_generation needs a prompt, with {text} where the document goes")
    return load_prompted_lm(model, prompt, chat=chat, device=device, allow_pickle=allow_pickle)


def _forced_tokens(lm: PromptedLM, continuation: str | None, max_new_tokens: int) -> list[int] | None:
    """The continuation's token ids, or None for greedy decoding (its length checked)."""
    if continuation is None:
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or not 1 <= max_new_tokens <= MAX_GENERATE:
            raise DoclrpError(f"tokens to generate must be 1 to {MAX_GENERATE}, got {max_new_tokens!r}")
        return None
    forced = list(lm.tokenizer(continuation, add_special_tokens=False)["input_ids"])
    if not forced:
        raise DoclrpError(f"the continuation {continuation!r} tokenizes to nothing: give text to explain")
    if len(forced) > MAX_GENERATE:
        raise DoclrpError(f"the continuation has {len(forced)} tokens, more than {MAX_GENERATE}: shorten it")
    return forced


# per generated token: (token id, explained logit, probability, relevance of the prompt row's columns,
# of each earlier generated token, and of further embeddings by name)
_Step = tuple[int, float, float, np.ndarray, list[float], dict[str, float]]


def _generate(lm: PromptedLM, composite: Composite, ids: Sequence[int], count: int,
              forced: list[int] | None) -> tuple[list[_Step], list[list[int]], list[list[str]]]:
    """Decode ``count`` tokens under the rules (one forward step each, with the cache), then one
    backward pass per token; the prompt row's document columns and column names along."""
    root = lm.next_token_module()
    was_training = lm.lm.training
    lm.lm.eval()
    try:
        with torch.enable_grad(), attach(root, composite) as session:
            session.expect_tokens()
            inputs, kwargs, positions, names = lm.collate_rows([ids])
            logits, cache = root(inputs, kwargs["attention_mask"], kwargs["position_ids"])
            length = inputs.shape[1]
            fed: list[tuple[Tensor, dict[str, Tensor]]] = [(cast(Tensor, session.leaf), session.other_leaves)]
            chosen: list[tuple[int, Tensor, float]] = []
            for step in range(count):
                token = forced[step] if forced is not None else int(logits[0].detach().argmax())
                probability = float(torch.softmax(logits[0].detach().double(), -1)[token])
                chosen.append((token, logits[0, token], probability))
                if step + 1 == count:
                    break
                # the next step's token embedding is a leaf of its own: its relevance is the token's
                session.leaf, session.other_leaves = None, {}
                length += 1
                mask = torch.ones(1, length, dtype=torch.long, device=inputs.device)
                logits, cache = root(torch.tensor([[token]], device=inputs.device), mask,
                                     torch.tensor([[length - 1]], device=inputs.device), cache)
                fed.append((cast(Tensor, session.leaf), session.other_leaves))
            steps = [_backward(fed[: step + 1], value, token, probability, step + 1 < count)
                     for step, (token, value, probability) in enumerate(chosen)]
    finally:
        lm.lm.train(was_training)
    return steps, positions, names


def _backward(fed: list[tuple[Tensor, dict[str, Tensor]]], value: Tensor, token: int, probability: float,
              keep: bool) -> _Step:
    """One backward pass from one token's logit to every input it read."""
    leaves = [leaf for leaf, _ in fed]
    others = [(name, leaf) for _, more in fed for name, leaf in more.items()]
    gradients = torch.autograd.grad(value, leaves + [leaf for _, leaf in others], retain_graph=keep,
                                    allow_unused=True)

    def relevance(leaf: Tensor, gradient: Tensor | None) -> np.ndarray:
        if gradient is None:
            return np.zeros(leaf.shape[1])
        return (leaf.detach() * gradient).sum(-1)[0].double().cpu().numpy()

    first = relevance(leaves[0], gradients[0])
    previous = [float(relevance(leaf, g).sum()) for leaf, g in zip(leaves[1:], gradients[1 : len(leaves)])]
    other: dict[str, float] = {}
    for (name, leaf), gradient in zip(others, gradients[len(leaves):]):
        other[name] = other.get(name, 0.0) + float(relevance(leaf, gradient).sum())
    return token, float(value.detach()), probability, first, previous, other


def _tokens(lm: PromptedLM, document: Any, spans: list[tuple[int, int]],
            generated: tuple[list[_Step], list[list[int]], list[list[str]]]) -> list[GeneratedToken]:
    """Each step's relevance by document word, earlier token, prompt word and special token."""
    steps, positions, names = generated
    columns = positions[0]
    alignment = align(spans, document)
    content = set(columns)
    others = [column for column in range(len(names[0]) + len(columns)) if column not in content]
    tokens = []
    pieces = _pieces(lm.tokenizer, [step[0] for step in steps])
    for piece, (token, value, probability, first, previous, other) in zip(pieces, steps):
        summed = aggregate(first[columns], alignment, document)
        prompt = [0.0] * len(lm.prompt_words)
        special: dict[str, float] = {}
        for column, name in zip(others, names[0]):
            if isinstance(name, PromptColumn):
                prompt[name.word] += float(first[column])
            else:
                special[name] = special.get(name, 0.0) + float(first[column])
        if summed.unassigned:
            special["unassigned"] = special.get("unassigned", 0.0) + summed.unassigned
        for name, amount in other.items():
            special[name] = special.get(name, 0.0) + amount
        total = float(first.sum()) + sum(previous) + sum(other.values())
        tokens.append(GeneratedToken(piece, token, value, probability, summed.words.tolist(),
                                     previous, prompt, special, value - total))
    return tokens


def _pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """Each token's text as it reads in the decoded continuation (its space included, which
    SentencePiece tokenizers drop when a piece is decoded alone)."""
    pieces, before = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(list(ids[:end]))
        if text.startswith(before):
            pieces.append(text[len(before):])
        else:  # bytes of one character over two tokens, and the like: the piece alone
            pieces.append(tokenizer.decode([ids[end - 1]]))
        before = text
    return pieces
