"""The torch modules that Keras layers become where torch has none of its own: ``Permute``
(axes moved between Keras's channels-last and torch's channels-first layouts),
``KerasRecurrent`` (an ``nn.LSTM``/``nn.GRU`` returning what the Keras layer returns) and
``MaskedMean`` (a mean over the steps that are not padding). Each is a plain torch module (or a
subclass of one the LRP engine knows), so doclrp's composites explain them as native layers.

>>> import torch
>>> Permute((2, 1))(torch.zeros(1, 3, 4)).shape
torch.Size([1, 4, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from doclrp.core.recurrent import ResetBeforeGRU
from doclrp.errors import DoclrpError

__all__ = ["Permute", "KerasRecurrent", "MaskedMean"]


class Permute(nn.Identity):
    """Moves axes: ``x.permute(0, *dims)``. Values only change places, so the plain gradient
    carries relevance along with them; it subclasses ``nn.Identity`` so that the LRP engine
    treats it as the parameter-free, relevance-preserving module it is.

    >>> Permute((2, 1))(torch.zeros(1, 3, 4)).shape
    torch.Size([1, 4, 3])
    """

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class KerasRecurrent(nn.Module):
    """An ``nn.LSTM`` or ``nn.GRU`` (``batch_first``, one layer) returning what the Keras layer
    returns: every step ``(batch, seq, units)``, or the last step ``(batch, units)``. A
    bidirectional layer's last step is the forward direction's final step and the backward
    direction's (which ends at position 0); ``merge`` joins the two directions as Keras's
    ``Bidirectional(merge_mode=...)``: ``concat``, ``sum`` or ``ave``.

    >>> layer = KerasRecurrent(nn.GRU(3, 2, batch_first=True), return_sequences=False)
    >>> layer(torch.zeros(4, 5, 3)).shape
    torch.Size([4, 2])
    """

    def __init__(self, rnn: nn.LSTM | nn.GRU, return_sequences: bool, merge: str = "concat",
                 zero_output_for_mask: bool = False) -> None:
        super().__init__()
        self.rnn, self.return_sequences, self.merge = rnn, return_sequences, merge
        # behind a mask, a masked step returns zeros (True; Bidirectional's layers) or the last output
        self.zero_output_for_mask = zero_output_for_mask

    def forward(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        if ids is not None:
            return self._masked(x, ids != 0)
        out, _ = self.rnn(x)
        units = self.rnn.hidden_size
        if not self.rnn.bidirectional:
            return out if self.return_sequences else out[:, -1]
        forward, backward = out[..., :units], out[..., units:]
        if not self.return_sequences:
            forward, backward = forward[:, -1], backward[:, 0]
        return self._merged(forward, backward)

    def _merged(self, forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
        if self.merge == "concat":
            return torch.cat([forward, backward], dim=-1)
        total = forward + backward
        return total if self.merge == "sum" else total / 2

    def _masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The last step of a Keras layer behind ``Embedding(mask_zero=True)``: masked steps are
        skipped (the state carries over them), so the unmasked steps run as one packed sequence,
        moved to the front in their order (a gather: relevance goes back to where each came
        from; masked steps get none). A sequence with no unmasked step returns zeros, as Keras's
        initial state."""
        if isinstance(self.rnn, ResetBeforeGRU):
            raise DoclrpError("a masked GRU with reset_after=False is not read")
        lengths = mask.sum(1)
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        gathered = x.gather(1, order.unsqueeze(-1).expand_as(x))
        packed = pack_padded_sequence(gathered, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        outputs, states = self.rnn(packed)
        if self.return_sequences:
            return self._scattered(pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])[0], mask)
        final = states[0] if isinstance(states, tuple) else states  # (directions, batch, units)
        last = self._merged(final[-2], final[-1]) if self.rnn.bidirectional else final[-1]
        return last * (lengths > 0).unsqueeze(-1).to(last.dtype)

    def _scattered(self, compact: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Every step's output at its own position from the packed run's ``compact`` outputs: a
        masked step returns zeros, or (``zero_output_for_mask`` False) the last unmasked step's
        output before it (zeros before the first), as Keras's masked recurrence does."""
        slot = mask.long().cumsum(1) - 1  # the compact index of the last unmasked step up to each position
        keep = mask if self.zero_output_for_mask else slot >= 0
        spread = compact.gather(1, slot.clamp(min=0).unsqueeze(-1).expand(-1, -1, compact.shape[-1]))
        spread = spread * keep.unsqueeze(-1).to(spread.dtype)
        if not self.rnn.bidirectional:
            return spread
        units = self.rnn.hidden_size
        return self._merged(spread[..., :units], spread[..., units:])

    def extra_repr(self) -> str:
        return f"return_sequences={self.return_sequences}" + (f", merge={self.merge!r}" if self.rnn.bidirectional else "")


class MaskedMean(nn.Identity):
    """Keras's ``GlobalAveragePooling1D`` behind ``Embedding(mask_zero=True)``: the mean over the
    steps whose token id is not 0 ``(batch, seq, features) → (batch, features)``; masked steps get
    no share. A linear map with a constant mask, like an average pool: its plain gradient is
    LRP-0 and conserves, so it subclasses ``nn.Identity`` for the engine, as :class:`Permute`.

    >>> MaskedMean()(torch.ones(1, 3, 2), torch.tensor([[5, 0, 7]])).tolist()
    [[1.0, 1.0]]
    """

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # two inputs
        mask = (ids != 0).to(x.dtype).unsqueeze(-1)
        return (x * mask).sum(1) / mask.sum(1)
