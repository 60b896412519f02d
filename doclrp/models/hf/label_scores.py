"""A causal language model as a document classifier: the scores of label words after a prompt.

>>> import doclrp
>>> pipeline = doclrp.load_model("LM", prompt="Article: {text}\\nTopic:",
...                              labels=["business", "sport"])                   # doctest: +SKIP
>>> pipeline.predict(["Shares fell."])[0].label                                   # doctest: +SKIP
'business'

:class:`LabelScores` is the model ``doclrp.explain`` runs: one row of token ids per window
(``prompt before + document + prompt after``, padded on the left) in, one score per label
out. Labels of one token each score by that token's next-token logit, which is the
language model with its head cut to the label tokens' rows: a sequence classifier whose
``score`` layer is those rows, explained by the same rules. Where a label has more tokens,
every label scores by the summed log-probability of its tokens, each after the ones before
it: the label's tokens are appended to the row, all labels in one batched pass (``batch ×
labels`` rows). The log-softmax keeps its gradient there (its linearisation at the logits):
the words share ``z_label − E_p[z]`` per label token and the entropy of each next-token
distribution shows in delta. The relevance of a label's own earlier tokens is reported
apart under ``label_tokens``.

:class:`PromptedClassifier` is the text pipeline around it (``labels``, ``tokens``,
``collate``, ``predict``), so that every doclrp feature takes a language model with a prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from doclrp.errors import DoclrpError
from doclrp.models.hf.prompted import PromptedLM, PromptTemplate, load_prompted_lm
from doclrp.text import Prediction
from doclrp.text.pipeline import first_window_outputs

__all__ = ["LabelScores", "PromptedClassifier", "label_token_ids", "load_prompted_classifier", "LABEL_PREFIX"]

#: What goes before each label when it is tokenized: a space, as a label word follows "Topic:".
LABEL_PREFIX = " "


def label_token_ids(tokenizer: Any, labels: Sequence[str], prefix: str = LABEL_PREFIX, after: str = "") -> list[list[int]]:
    """The token ids of each label as it follows the prompt's text ``after``: ``after + prefix +
    label`` tokenized, less the tokens of ``after`` (where the two do not merge; else the label
    tokenized alone). One line for a label that tokenizes to nothing or two labels with the
    same tokens.
    """
    if isinstance(labels, str) or not labels:
        raise DoclrpError("labels: give at least one label, as a list of names")
    context = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    found: dict[tuple[int, ...], str] = {}
    result = []
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise DoclrpError(f"label {label!r} is empty: give every label as a word or words")
        ids = list(tokenizer(after + prefix + label, add_special_tokens=False)["input_ids"])
        if context and ids[: len(context)] == context:
            ids = ids[len(context):]
        else:
            ids = list(tokenizer(prefix + label, add_special_tokens=False)["input_ids"])
        if not ids:
            raise DoclrpError(f"label {label!r} tokenizes to nothing: give a label the tokenizer knows")
        if tuple(ids) in found:
            raise DoclrpError(f"labels {found[tuple(ids)]!r} and {label!r} tokenize to the same tokens "
                              f"{tokenizer.convert_ids_to_tokens(ids)}: give labels that differ")
        found[tuple(ids)] = label
        result.append(ids)
    return result


class LabelScores(nn.Module):
    """Token ids ``(batch, seq)`` (left-padded) → label scores ``(batch, labels)``.

    ``lm``: the causal language model; ``label_ids``: each label's token ids; ``softcap``: the
    module the next-token logits go through (:class:`~doclrp.models.hf.prompted.LogitSoftcap`
    for Gemma 2, else ``nn.Identity``).
    """

    lm: Any  # a transformers model: its methods are not typed on nn.Module
    label_ids: Tensor
    label_present: Tensor

    def __init__(self, lm: nn.Module, label_ids: Sequence[Sequence[int]], softcap: nn.Module | None = None) -> None:
        super().__init__()
        # The language model's input embedding, registered before the model itself so that this is
        # its name: its second run, on the labels' own earlier tokens, is reported under it.
        self.label_tokens = getattr(lm, "get_input_embeddings")()
        self.lm = lm
        self.softcap = softcap if softcap is not None else nn.Identity()
        width = max(len(ids) for ids in label_ids)
        table = torch.zeros(len(label_ids), width, dtype=torch.long)
        present = torch.zeros(len(label_ids), width)
        for row, ids in enumerate(label_ids):
            table[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
            present[row, : len(ids)] = 1
        self.register_buffer("label_ids", table, persistent=False)
        self.register_buffer("label_present", present, persistent=False)

    @property
    def config(self) -> Any:
        return self.lm.config

    @property
    def one_token(self) -> bool:
        """Whether every label is one token (scored by its logit), else by summed log-probabilities."""
        return int(self.label_ids.shape[1]) == 1

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                position_ids: Tensor | None = None) -> Tensor:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        if position_ids is None:
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        batch, length = input_ids.shape
        position_ids = position_ids.expand(batch, length)
        embeddings = self.label_tokens(input_ids)  # the input: doclrp takes relevance here
        head = self.lm.get_output_embeddings()
        if self.one_token:
            hidden = self._hidden(embeddings, mask, position_ids)[:, -1]
            return self.softcap(head(hidden))[:, self.label_ids[:, 0]]
        # one row per document and label: the document, then the label's tokens but its last
        n_labels, width = (int(size) for size in self.label_ids.shape)
        follow = self.label_tokens(self.label_ids[:, :-1].reshape(1, -1).expand(batch, -1))
        rows = torch.cat([embeddings.unsqueeze(1).expand(batch, n_labels, length, -1),
                          follow.view(batch, n_labels, width - 1, -1)], 2).flatten(0, 1)
        ones = mask.new_ones(batch, n_labels, width - 1)
        row_mask = torch.cat([mask.unsqueeze(1).expand(batch, n_labels, length), ones], 2).flatten(0, 1)
        after = position_ids[:, -1:].unsqueeze(1) + ones.cumsum(-1)
        row_positions = torch.cat([position_ids.unsqueeze(1).expand(batch, n_labels, length), after], 2).flatten(0, 1)
        hidden = self._hidden(rows, row_mask, row_positions)[:, length - 1 :]
        logits = self.softcap(head(hidden))
        # half precision: the log-softmax over the vocabulary in float32 at least
        log_p = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
        picked = log_p.gather(-1, self.label_ids.repeat(batch, 1).unsqueeze(-1)).squeeze(-1)
        return (picked * self.label_present.repeat(batch, 1)).sum(-1).view(batch, n_labels)

    def _hidden(self, embeddings: Tensor, mask: Tensor, positions: Tensor) -> Tensor:
        out = self.lm.base_model(inputs_embeds=embeddings, attention_mask=mask, position_ids=positions,
                                 use_cache=False)
        return out.last_hidden_state


class PromptedClassifier(PromptedLM):
    """A :class:`~doclrp.models.hf.prompted.PromptedLM` whose outputs are the scores of ``labels``
    (see the module's docstring): the text pipeline ``doclrp.explain``, corpus runs, evaluation
    and the web app take. ``label_prefix`` goes before each label when it is tokenized.
    """

    task = "classification"

    def __init__(self, lm: nn.Module, tokenizer: Any, prompt: PromptTemplate | str, labels: Sequence[str], *,
                 chat: bool = False, label_prefix: str = LABEL_PREFIX) -> None:
        super().__init__(lm, tokenizer, prompt, chat=chat)
        after = self.prompt.parts(tokenizer)[1]
        label_ids = label_token_ids(tokenizer, labels, label_prefix, after)
        self.labels = [str(label) for label in labels]
        self.label_prefix = label_prefix
        self.metrics: dict[str, Any] = {}
        self.model = LabelScores(self.lm, label_ids, self.softcap).to(self.device).eval()

    @property
    def output_names(self) -> list[str]:
        """Alias of ``labels``."""
        return self.labels

    @property
    def max_tokens(self) -> int:
        """Document tokens per window: the context less the prompt (and a long label's tokens)."""
        return self.room(int(self.model.label_ids.shape[1]) - 1)

    def collate(self, windows: Sequence[Sequence[int]]
                ) -> tuple[Tensor, dict[str, Any], list[list[int]], list[list[str]]]:
        """A left-padded batch ``(batch, seq)`` of ``windows`` (document token ids) inside the prompt:
        ``(inputs, forward_kwargs, positions, special_names)`` as ``HFPipeline.collate`` gives them,
        the template's columns named by :class:`~doclrp.text.prompt.PromptColumn`."""
        too_long = [len(w) for w in windows if len(w) > self.max_tokens]
        if too_long:
            raise DoclrpError(f"a window of {too_long[0]} tokens exceeds max_tokens={self.max_tokens}; split it")
        return self.collate_rows(windows)

    def outputs(self, texts: Sequence[str], batch_size: int = 16) -> Tensor:
        """Label scores ``(batch, labels)`` on the first ``max_tokens`` tokens of each text."""
        return first_window_outputs(self, texts, batch_size)

    def predict(self, texts: Sequence[str], batch_size: int = 16) -> list[Prediction]:
        """One :class:`doclrp.text.Prediction` per text (label, probabilities over the labels, scores)."""
        return [Prediction.from_logits(row, self.labels, self.task) for row in self.outputs(texts, batch_size)]


def load_prompted_classifier(folder: str | Path, prompt: PromptTemplate | str, labels: Sequence[str], *,
                             chat: bool = False, label_prefix: str = LABEL_PREFIX, device: str | torch.device = "cpu",
                             allow_pickle: bool = False) -> PromptedClassifier:
    """A :class:`PromptedClassifier` from a local folder of a causal language model."""
    loaded = load_prompted_lm(folder, prompt, chat=chat, device=device, allow_pickle=allow_pickle)
    return PromptedClassifier(loaded.lm, loaded.tokenizer, loaded.prompt, labels, label_prefix=label_prefix)
