"""A causal language model with a prompt template: the document inside the prompt, as model tokens.

>>> template = PromptTemplate("Article: {text}\\nTopic:")
>>> template.parts(tokenizer=None)
('Article: ', '\\nTopic:')
>>> PromptTemplate("no place for the document")
Traceback (most recent call last):
doclrp.errors.DoclrpError: the prompt must hold {text} once, where the document goes; it holds it 0 times

:class:`PromptedLM` reads ``prefix + document + suffix`` as the model sees it: the tokenizer's
start token(s), the template's part before ``{text}``, the document's tokens, the part after.
Template and document are tokenized apart (a piece never spans both), the document's tokens
with their character offsets, so relevance is read back per document word. Rows of several
documents are padded on the left (position ids counted from the first real token), so that
every row ends at its last real token, where the next token is predicted, and a padded row
computes what it computes alone. Which columns hold the template is said with
:class:`~doclrp.text.prompt.PromptColumn` names among the special-token names of ``collate``
(``doclrp.explain`` reports their relevance per template word in ``Explanation.prompt``).

With ``chat=True`` the template is the user's message in the tokenizer's chat template (its
``chat_template``), followed by the start of the assistant's answer; the rendered template then
holds the start token itself. The next-token scores go through :class:`LogitSoftcap` where the
family caps its logits (Gemma 2): an element-wise module, which the transformer composites
give the identity rule. The label scores built on this are :mod:`doclrp.models.hf.label_scores`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from doclrp.errors import DoclrpError
from doclrp.models.hf.pipeline import (SAFE_LOADING, _transformers, check_hf_folder, encode_texts, hf_folder, quiet,
                                       special_template)
from doclrp.text.prompt import PromptColumn, PromptWord, prompt_words

__all__ = ["PromptTemplate", "PromptedLM", "LogitSoftcap", "PLACEHOLDER", "PAD_NAME", "context_size",
           "check_causal_lm", "load_prompted_lm", "NextTokenScores"]

#: Where the document goes in a prompt template.
PLACEHOLDER = "{text}"
#: The special-token name of left padding columns (their relevance is 0: no real token reads them).
PAD_NAME = "[PAD]"
# stands for the document while a chat template is rendered: no template holds it
_MARKER = "\ue000doclrp-document\ue000"
# tokenizers without a real limit report a huge model_max_length (int(1e30))
_NO_LIMIT = 1_000_000


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt with ``{text}`` where the document goes (once); ``chat``: inside the tokenizer's
    chat template, as the user's message. Other braces are text (no ``str.format``)."""

    template: str
    chat: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.template, str):
            raise DoclrpError(f"the prompt must be a string with {PLACEHOLDER}, got {type(self.template).__name__}")
        count = self.template.count(PLACEHOLDER)
        if count != 1:
            raise DoclrpError(f"the prompt must hold {PLACEHOLDER} once, where the document goes; it holds it "
                              f"{count} times")

    def parts(self, tokenizer: Any) -> tuple[str, str]:
        """``(before, after)``: the text around the document (the chat template rendered, with ``chat``)."""
        if not self.chat:
            before, after = self.template.split(PLACEHOLDER)
            return before, after
        if not getattr(tokenizer, "chat_template", None):
            raise DoclrpError("--chat: the model's tokenizer has no chat template (tokenizer_config.json "
                              "'chat_template' or chat_template.jinja); leave out --chat and write the prompt in full")
        message = self.template.replace(PLACEHOLDER, _MARKER)
        try:
            rendered = tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False,
                                                     add_generation_prompt=True)
        except Exception as error:  # jinja errors of the folder's template: its own exception types
            raise DoclrpError(f"--chat: the tokenizer's chat template failed ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0] if str(error).strip() else ''})") from None
        if not isinstance(rendered, str) or rendered.count(_MARKER) != 1:
            raise DoclrpError("--chat: the tokenizer's chat template does not keep the message as it is; "
                              "leave out --chat and write the prompt in full")
        before, after = rendered.split(_MARKER)
        return before, after


class LogitSoftcap(nn.Module):
    """``cap · tanh(logits / cap)``: the final logit soft-capping of Gemma 2, as a module (which
    the transformer composites give the identity rule: relevance in proportion to the input).

    >>> LogitSoftcap(30.0)(torch.tensor([0.0, 3000.0])).tolist()
    [0.0, 30.0]
    """

    def __init__(self, cap: float) -> None:
        super().__init__()
        self.cap = float(cap)

    def forward(self, logits: Tensor) -> Tensor:
        return self.cap * torch.tanh(logits / self.cap)

    def extra_repr(self) -> str:
        return f"cap={self.cap}"


def check_causal_lm(model: nn.Module) -> None:
    """Refuse what is not a transformers causal language model with an output embedding."""
    config = getattr(model, "config", None)
    find_head = getattr(model, "get_output_embeddings", None)
    head = find_head() if callable(find_head) else None
    if config is None or not isinstance(head, nn.Linear) or not hasattr(model, "base_model"):
        raise DoclrpError(f"{type(model).__name__} is not a transformers language model with an LM head; load one "
                          "with AutoModelForCausalLM.from_pretrained")


def context_size(model: nn.Module, tokenizer: Any) -> int:
    """Tokens the model reads at most: its position table, or its tokenizer's limit."""
    limits = [int(tokenizer.model_max_length)] if getattr(tokenizer, "model_max_length", None) else []
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int):
        limits.append(positions)
    limit = min(limits) if limits else _NO_LIMIT
    if limit >= _NO_LIMIT:
        raise DoclrpError("the tokenizer and model name no maximum length; set tokenizer.model_max_length")
    return limit


class PromptedLM:
    """A causal language model (``AutoModelForCausalLM``), its fast tokenizer and a prompt template.

    ``prompt``: a :class:`PromptTemplate` or a template string (``chat`` then says whether to
    put it in the tokenizer's chat template). The model is put in eval mode.
    """

    #: The method of its explanations unless another is asked for.
    default_composite = "attnlrp"

    def __init__(self, lm: nn.Module, tokenizer: Any, prompt: PromptTemplate | str, *, chat: bool = False) -> None:
        check_causal_lm(lm)
        if not getattr(tokenizer, "is_fast", False):
            raise DoclrpError(f"{type(tokenizer).__name__} is not a fast tokenizer: character offsets need one; "
                              "load it with AutoTokenizer.from_pretrained(folder) (use_fast=True)")
        self.lm = lm.eval()
        self.tokenizer = tokenizer
        self.prompt = prompt if isinstance(prompt, PromptTemplate) else PromptTemplate(prompt, chat=chat)
        before, after = self.prompt.parts(tokenizer)
        # a chat template writes its start token itself
        self._start = [] if self.prompt.chat else special_template(tokenizer)[0]
        self._start_names = tokenizer.convert_ids_to_tokens(self._start)
        self.prompt_words: list[PromptWord] = []
        self._before, self._before_names = self._template_part(before, True)
        self._after, self._after_names = self._template_part(after, False)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0  # any id: padding columns are masked out
        cap = getattr(lm.config, "final_logit_softcapping", None)
        self.softcap: nn.Module = LogitSoftcap(cap) if cap else nn.Identity()
        self._next_token: NextTokenScores | None = None

    def _template_part(self, text: str, before: bool) -> tuple[list[int], list[str]]:
        """The token ids of one part of the template and their column names (:class:`PromptColumn`)."""
        if not text:
            return [], []
        [(ids, spans)] = encode_texts(self.tokenizer, [text])
        names: list[str] = [""] * len(ids)
        for word, members in prompt_words(text, spans):
            index = len(self.prompt_words)
            self.prompt_words.append(PromptWord(word, 0.0, before))
            for member in members:
                names[member] = PromptColumn(self.tokenizer.convert_ids_to_tokens(ids[member]), index)
        return ids, names

    # -- what the model is -----------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    @property
    def context(self) -> int:
        """Tokens the model reads at most (its position table, or the tokenizer's limit)."""
        return context_size(self.lm, self.tokenizer)

    @property
    def prompt_length(self) -> int:
        """Tokens of the prompt around the document: start token(s) and the template's two parts."""
        return len(self._start) + len(self._before) + len(self._after)

    def room(self, reserved: int = 0) -> int:
        """Document tokens per window when ``reserved`` more tokens follow the prompt; refuses a
        prompt that leaves no room."""
        room = self.context - self.prompt_length - reserved
        if room < 1:
            raise DoclrpError(f"the prompt takes {self.prompt_length} tokens{f' (and {reserved} more follow it)' if reserved else ''} "
                              f"of the model's {self.context}: no room is left for the document; shorten the prompt")
        return room

    def next_token_module(self) -> NextTokenScores:
        """The module one step of generation runs (made once: its hook plan is kept with it)."""
        if self._next_token is None:
            self._next_token = NextTokenScores(self.lm, self.softcap).to(self.device).eval()
        return self._next_token

    # -- the sequence protocol --------------------------------------------------------------
    def tokens(self, texts: Sequence[Any]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Per document: its token ids (no specials, not truncated) and their character spans."""
        return encode_texts(self.tokenizer, texts)

    def row(self, window: Sequence[int]) -> list[int]:
        """The model's input for one window of document tokens: start, template, window, template."""
        return self._start + self._before + [int(t) for t in window] + self._after

    def collate_rows(self, windows: Sequence[Sequence[int]]
                     ) -> tuple[Tensor, dict[str, Any], list[list[int]], list[list[str]]]:
        """``collate`` without the length check: ``windows`` padded on the left into ``(batch, seq)``."""
        if not windows:
            raise DoclrpError("collate needs at least one window")
        rows = [self.row(w) for w in windows]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        positions: list[list[int]] = []
        names: list[list[str]] = []
        head = len(self._start) + len(self._before)
        for i, (row, window) in enumerate(zip(rows, windows)):
            pad = width - len(row)
            ids[i, pad:] = torch.tensor(row, dtype=torch.long)
            mask[i, pad:] = 1
            positions.append(list(range(pad + head, pad + head + len(window))))
            names.append([PAD_NAME] * pad + self._start_names + self._before_names + self._after_names)
        mask = mask.to(self.device)
        kwargs = {"attention_mask": mask, "position_ids": (mask.cumsum(1) - 1).clamp(min=0)}
        return ids.to(self.device), kwargs, positions, names


_PARAMETERS: dict[type, frozenset[str]] = {}


def _parameters(model_class: type[nn.Module]) -> frozenset[str]:
    """The names ``forward`` of a transformers model class takes (once per class)."""
    if model_class not in _PARAMETERS:
        _PARAMETERS[model_class] = frozenset(inspect.signature(model_class.forward).parameters)
    return _PARAMETERS[model_class]


class NextTokenScores(nn.Module):
    """Token ids ``(batch, new)`` and the cache of the earlier ones → next-token logits ``(batch, vocab)``
    after the last of them, and the cache: one step of generation, the module generation is explained on.

    ``attention_mask`` covers the earlier tokens and the new ones; ``softcap``: as in
    :class:`PromptedLM`.
    """

    lm: Any  # a transformers model: its methods are not typed on nn.Module

    def __init__(self, lm: nn.Module, softcap: nn.Module | None = None) -> None:
        super().__init__()
        self.lm = lm
        self.softcap = softcap if softcap is not None else nn.Identity()

    def forward(self, input_ids: Tensor, attention_mask: Tensor, position_ids: Tensor,
                past_key_values: Any = None) -> tuple[Tensor, Any]:
        base = self.lm.base_model
        # transformers 5.25 names the cache `cache`, earlier versions `past_key_values`
        kind: type[nn.Module] = type(base)
        name = "cache" if "cache" in _parameters(kind) else "past_key_values"
        out = base(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   use_cache=True, **{name: past_key_values})
        logits = self.softcap(self.lm.get_output_embeddings()(out.last_hidden_state[:, -1]))
        return logits, out[name] if name in out else out[1]


def load_prompted_lm(folder: str | Path, prompt: PromptTemplate | str, *, chat: bool = False,
                     device: str | torch.device = "cpu", allow_pickle: bool = False) -> PromptedLM:
    """A :class:`PromptedLM` from a local folder of a causal language model (no network, no code
    from the folder: :func:`~doclrp.models.hf.pipeline.check_hf_folder`).

    >>> load_prompted_lm("no/such/folder", "{text}")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: no Hugging Face model folder at no/such/folder (config.json missing): check the path
    """
    folder = hf_folder(folder)
    template = prompt if isinstance(prompt, PromptTemplate) else PromptTemplate(prompt, chat=chat)
    use_safetensors = check_hf_folder(folder, allow_pickle=allow_pickle)
    transformers = _transformers()
    try:
        with quiet(transformers):
            config = transformers.AutoConfig.from_pretrained(folder, **SAFE_LOADING)
            if type(config) not in transformers.AutoModelForCausalLM._model_mapping:
                raise DoclrpError(f"{folder} holds a {config.model_type} model, which transformers has no language "
                                  "model head for: --prompt needs a causal language model (Llama, Qwen2, Gemma, "
                                  "Mistral, Phi-3, GPT-2 …)")
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **SAFE_LOADING)
            lm = transformers.AutoModelForCausalLM.from_pretrained(folder, use_safetensors=use_safetensors,
                                                                   **SAFE_LOADING)
    except (OSError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DoclrpError(f"cannot load the language model in {folder}: {first}") from None
    return PromptedLM(lm.to(device), tokenizer, template)
