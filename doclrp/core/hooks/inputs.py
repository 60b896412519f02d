"""Hooks of embeddings: for token ids, relevance is taken at the output of the first
embedding the model runs (``Session.take_embedding``); later embeddings (positions, token
types) are inputs too, reported apart; an ``EmbeddingBag`` is taken per token.

>>> import torch
>>> from doclrp.core.composites import get_composite
>>> session = Session(get_composite("zero"))
>>> session.expect_tokens()
>>> embedding = torch.nn.Embedding(5, 3)
>>> out = embedding_hook(session, "embedding")(embedding, (torch.tensor([[1, 2]]),), embedding(torch.tensor([[1, 2]])))
>>> out is session.leaf, tuple(out.shape)
(True, (1, 2, 3))
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...errors import DoclrpError
from ..session import ForwardHook, Session, module_path

__all__ = ["embedding_hook", "embedding_bag_hook"]


def embedding_hook(session: Session, name: str) -> ForwardHook:
    def hook(module: nn.Embedding, args: tuple[Any, ...], output: Tensor) -> Tensor | None:
        if not session.token_input:
            return None
        slot = session.slot_of(args[0]) if session.slots else None
        if slot is not None:
            return session.take_slot_embedding(slot, output, module.weight)
        if session.leaf is None and not session.slots:
            return session.take_embedding(output, module.weight)
        # Later embeddings (positions, token types) are inputs too: their relevance is
        # reported apart instead of vanishing.
        leaf = output.detach()
        batch = session.slots[0].value.shape[0] if session.slots else cast(Tensor, session.leaf).shape[0]
        if leaf.shape[0] == 1 and batch > 1:
            # one row shared by the batch (position embeddings): give each sample its own
            # copy so each one's relevance is its own; the sum broadcasts to the same values
            leaf = leaf.expand(batch, *leaf.shape[1:]).contiguous()
        leaf.requires_grad_(True)
        # a shared embedding run twice reports each call apart
        key = name if name not in session.other_leaves else f"{name}#{len(session.other_leaves)}"
        session.other_leaves[key] = leaf
        return leaf

    return hook


def embedding_bag_hook(session: Session, name: str) -> ForwardHook:
    def hook(module: nn.EmbeddingBag, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Tensor | None:
        ids = args[0]
        slot = session.slot_of(ids) if session.slots else None
        if not session.token_input or (session.leaf is not None and slot is None) or (session.slots and slot is None):
            return None
        offsets = args[1] if len(args) > 1 else kwargs.get("offsets")
        weights = args[2] if len(args) > 2 else kwargs.get("per_sample_weights")
        if ids.dim() != 2 or offsets is not None:
            raise DoclrpError(
                f"EmbeddingBag '{module_path(name)}': per-token relevance needs 2-D (batch, seq) ids without offsets"
            )
        if module.mode == "max":
            raise DoclrpError(f"EmbeddingBag '{module_path(name)}': mode='max' is not supported; use 'sum' or 'mean'")
        embedded = F.embedding(ids, module.weight)
        tokens = session.take_embedding(embedded, module.weight) if slot is None \
            else session.take_slot_embedding(slot, embedded, module.weight)
        keep = torch.ones_like(ids, dtype=tokens.dtype) if module.padding_idx is None else (ids != module.padding_idx).to(tokens.dtype)
        if weights is not None:
            keep = keep * weights
        bag = (tokens * keep.unsqueeze(-1)).sum(1)
        if module.mode == "mean":
            bag = bag / keep.sum(1, keepdim=True).clamp(min=1)
        # The values stay those of the fused kernel; the gradient takes the per-token path.
        return session.input_scale * output.detach() + (bag - bag.detach())

    return hook
