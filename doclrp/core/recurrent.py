"""LRP for recurrent layers (``nn.LSTM``, ``nn.GRU``): Arras et al. (2017), "Explaining Recurrent
Neural Network Predictions in Sentiment Analysis".

The rules, in the engine's gradient form (relevance = activation ⊙ modified gradient):

- **Gates are constants** (signal-take-all): a product ``gate ⊙ signal`` hands all its
  relevance to the signal. LSTM: ``c_t = f ⊙ c_{t−1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``: the
  gates ``i, f, o`` pass nothing; GRU: ``h_t = (1−z) ⊙ n + z ⊙ h_{t−1}`` gives to ``n`` and to
  ``h_{t−1}``, ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`` with ``r`` a constant too.
- **The sums** (``f c + i g``, ``(1−z) n + z h``) split relevance in proportion to their terms
  (LRP-0, as every plain addition in the engine). Arras et al.'s code (ArrasL/LRP_for_LSTM)
  stabilizes these with ε too, and its ε absorbs relevance at every step, so the difference
  accumulates over time: ``Recurrent(rule, mode="arras")`` (``resolve_method("epsilon",
  eps=0.001, recurrent="arras")``) is their published procedure exactly, ``bias_factor``
  included (their ``lrp_linear``: 0 leaves the biases' and ε's share absorbed, 1 spreads it
  evenly over a layer's inputs); it runs the steps in relevance form
  (:meth:`_Cell.backward_arras`), its numpy transcription is ``tests/references.py:
  arras_lstm_lrp``.
- **``tanh``** passes relevance unchanged (``Pass``).
- **The linear maps** of the signal (LSTM: ``z_g = W_ig x_t + W_hg h_{t−1} + b_ig + b_hg``; GRU:
  ``z_n`` above, a map of ``[x_t; h_{t−1}]`` with weight ``[W_in, diag(r) W_hn]``) take the
  composite's ``nn.Linear`` rule — one layer over the input and the previous state together,
  with its own output (both biases in ``z``) in the denominator, as Arras et al.; biases keep
  their share, which shows in ``delta``.

So relevance flows back through time to every input position. The layer's own forward runs
unchanged (its output values are returned exactly); a hook joins each layer and direction to the
graph through one autograd function whose backward runs the rules step by step: one forward and
one backward pass, as everywhere in the engine. The hook needs every step's gates: for the last
layer they follow from the module's own outputs in one matrix product per map (only the cell
state is a scan of products and sums); lower layers, whose outputs the module does not return,
are recomputed step by step without a graph. It keeps three ``(batch, length, hidden)`` factors
per layer and direction (five for rules other than ε and LRP-0, which run per step).
Padded batches, ``PackedSequence`` inputs (a document's relevance then does not depend on its
batch neighbours), ``batch_first`` either way, several layers and both directions are covered;
``proj_size`` and dropout between layers in training mode are refused.

>>> import torch
>>> from torch import nn
>>> from doclrp.core import attribute
>>> class Reader(nn.Module):  # a bidirectional LSTM read at its last position
...     def __init__(self):
...         super().__init__()
...         self.lstm = nn.LSTM(3, 4, bias=False, batch_first=True, bidirectional=True)
...     def forward(self, x):
...         return self.lstm(x)[0][:, -1]
>>> model = Reader().double()
>>> attr = attribute(model, torch.randn(2, 5, 3, dtype=torch.float64), target=0, composite="zero")
>>> attr.relevance.shape, bool(attr.delta.abs().max() < 1e-12)
(torch.Size([2, 5, 3]), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from ..errors import DoclrpError
from .linear import AffineMap
from .rules import AffineRule, Epsilon, Gradient, Layer, ModuleRule, Rule, Zero

__all__ = ["Recurrent", "ArrasEpsilon", "RECURRENT_LAYERS", "LINEAR_VIEW", "RECURRENT_MODES", "ResetBeforeGRU"]

#: How a recurrent layer's sums are split: doclrp's LRP-0, or Arras et al.'s code (ε there too).
RECURRENT_MODES = ("doclrp", "arras")

#: The recurrent layers the engine explains.
RECURRENT_LAYERS = (nn.LSTM, nn.GRU)

#: A stand-in ``nn.Linear`` for asking a composite which rule a Linear layer would get at the
#: place of a recurrent one, and for marking the recurrent cell's joint maps as dense for
#: :class:`~doclrp.core.linear.AffineMap` (which reads a layer's kind from its module).
# on the meta device: no memory, and no draw from torch's random generator at import
LINEAR_VIEW = nn.Linear(1, 1, bias=False, device="meta")


class ResetBeforeGRU(nn.GRU):
    """The GRU with its reset gate applied *before* the recurrent product (Cho et al. 2014; Keras's
    ``GRU(reset_after=False)``): ``n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)``, where
    ``nn.GRU`` computes ``r ⊙ (W_hn h + b_hn)``. Same parameters as ``nn.GRU``; one layer,
    padded (not packed) batches; run step by step in Python (no fused kernel computes it). The
    recurrent rules read it as a GRU whose candidate map is ``[x; r ⊙ h]``.

    >>> gru = ResetBeforeGRU(3, 2, batch_first=True)
    >>> gru(torch.zeros(4, 5, 3))[0].shape
    torch.Size([4, 5, 2])
    """

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        if isinstance(input, PackedSequence) or self.num_layers != 1 or input.dim() != 3:
            raise DoclrpError("ResetBeforeGRU runs one layer on padded (batch, seq, features) batches")
        x = input if self.batch_first else input.transpose(0, 1)
        size = self.hidden_size
        outputs, finals = [], []
        for direction in range(2 if self.bidirectional else 1):
            suffix = "_l0" + ("_reverse" if direction else "")
            w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
            b_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
            b_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
            from_input = F.linear(x, w_ih, b_ih)
            h = x.new_zeros(x.shape[0], size) if hx is None else hx[direction]
            steps: list[Tensor] = [x.new_empty(0)] * x.shape[1]
            for t in (range(x.shape[1] - 1, -1, -1) if direction else range(x.shape[1])):
                gates = from_input[:, t, :2 * size] + F.linear(h, w_hh[:2 * size], None if b_hh is None else b_hh[:2 * size])
                r, z = torch.sigmoid(gates[:, :size]), torch.sigmoid(gates[:, size:])
                n = torch.tanh(from_input[:, t, 2 * size:] + F.linear(r * h, w_hh[2 * size:],
                                                                      None if b_hh is None else b_hh[2 * size:]))
                h = (1 - z) * n + z * h
                steps[t] = h
            outputs.append(torch.stack(steps, 1))
            finals.append(h)
        y = torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]
        return (y if self.batch_first else y.transpose(0, 1)), torch.stack(finals)


@dataclass(frozen=True)
class Recurrent(ModuleRule):
    """The recurrent rules on an ``nn.LSTM``/``nn.GRU``, with ``rule`` for its linear maps
    (what the composite gives an ``nn.Linear``; ``Gradient()`` there means LRP-0).

    A composite gives it to every recurrent layer by itself; map the layer's type or path to an
    ``AffineRule`` to choose another rule for its linear maps, or to ``Gradient()`` for its plain
    gradient (no LRP).

    ``mode="arras"``: Arras et al.'s published procedure, ε of ``rule`` (an ``Epsilon``) in the
    cell's sums as well, and their ``bias_factor`` (see the module docstring).

    >>> Recurrent(Epsilon(0.01))
    Recurrent(rule=Epsilon(eps=0.01))
    >>> Recurrent(Epsilon(0.001), mode="arras")
    Recurrent(rule=Epsilon(eps=0.001), mode='arras')
    """

    rule: Rule | None
    mode: str = "doclrp"
    bias_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in RECURRENT_MODES:
            raise DoclrpError(f"recurrent={self.mode!r}: choose one of {', '.join(RECURRENT_MODES)}")
        if self.mode == "arras" and not isinstance(self.rule, Epsilon):
            raise DoclrpError(f"recurrent='arras' is Arras et al.'s LRP-ε: its rule must be Epsilon, got {self.rule!r}")
        if not math.isfinite(self.bias_factor) or (self.bias_factor and self.mode != "arras"):
            raise DoclrpError(f"bias_factor={self.bias_factor!r}: a finite number, and only with recurrent='arras'")

    def __repr__(self) -> str:
        extra = "" if self.mode == "doclrp" else f", mode={self.mode!r}"
        extra += f", bias_factor={self.bias_factor!r}" if self.bias_factor else ""
        return f"Recurrent(rule={self.rule!r}{extra})"

    def plan(self, name: str, module: nn.Module) -> bool:
        where = f"'{name or '<model>'}' ({type(module).__name__})"
        if not isinstance(module, RECURRENT_LAYERS):
            raise DoclrpError(f"{self!r} on {where}: needs an nn.LSTM or nn.GRU")
        if self.rule is None:
            raise DoclrpError(f"recurrent layer {where} has no rule: the composite gives nn.Linear none; "
                              "add one, e.g. Composite({nn.Linear: Epsilon()})")
        if not isinstance(self.rule, (AffineRule, Gradient)):
            raise DoclrpError(f"rule {self.rule!r} on recurrent layer {where}: its linear maps need a rule "
                              "for hidden layers (Zero, Epsilon, Gamma, ZPlus, AlphaBeta)")
        if getattr(module, "proj_size", 0):
            raise DoclrpError(f"recurrent layer {where}: proj_size > 0 is not supported")
        return True

    def forward_hook(self, session: object, name: str) -> Callable[..., Any]:
        rule: AffineRule = Zero() if isinstance(self.rule, Gradient) else cast(AffineRule, self.rule)

        def hook(module: nn.LSTM | nn.GRU, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
            inputs = args[0] if args else kwargs.get("input")
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            data = inputs.data if isinstance(inputs, PackedSequence) else inputs
            states = hx if isinstance(hx, tuple) else (hx,)
            if not (isinstance(data, Tensor) and (data.requires_grad or any(
                    isinstance(s, Tensor) and s.requires_grad for s in states))):
                return None  # a path the input does not reach carries no relevance
            if module.training and module.dropout > 0 and module.num_layers > 1:
                raise DoclrpError(f"recurrent layer '{name or '<model>'}' is in training mode with dropout "
                                  "between layers: call model.eval() before explaining")
            arras = (cast(Epsilon, rule).eps, self.bias_factor) if self.mode == "arras" else None
            return _explained_output(module, rule, inputs, hx, output, arras)

        return hook


@dataclass(frozen=True)
class ArrasEpsilon(AffineRule):
    """Arras et al.'s ``lrp_linear`` on a Linear layer with ``bias_factor`` ≠ 0:
    ``R_j = Σ_k (x_j w_jk + bias_factor·(b_k + ε·sign(z_k))/N) / (z_k + ε·sign(z_k)) · R_k``, N the
    layer's inputs (with ``bias_factor = 0`` it is ``Epsilon``). The share of bias and ε goes to
    every input alike, so an input at 0 cannot carry it (gradient form): it shows in delta.

    >>> ArrasEpsilon(0.001, 1.0)
    ArrasEpsilon(eps=0.001, bias_factor=1.0)
    """

    eps: float = 0.001
    bias_factor: float = 0.0

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        sign = torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
        stabilized = z + self.eps * sign
        shares = z * g / stabilized  # R_k / (z_k + ε sign z_k)
        spread = self.bias_factor * ((layer.bias_like(z) + self.eps * sign) * shares).sum(-1, keepdim=True)
        return layer.vjp(shares, x) + _ratio(spread.expand_as(x) / x.shape[-1], x)


# -- the layer, recomputed ---------------------------------------------------------------------
def _explained_output(module: nn.LSTM | nn.GRU, rule: AffineRule, inputs: Any, hx: Any, output: Any,
                      arras: tuple[float, float] | None = None) -> Any:
    """``output`` with its values as the module computed them and the gradient of the rules."""
    lstm = isinstance(module, nn.LSTM)
    packed = isinstance(inputs, PackedSequence)
    valid: Tensor | None = None
    if packed:
        x, lengths = pad_packed_sequence(inputs, batch_first=True)
        valid = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device).unsqueeze(1)
        unbatched = False
    else:
        unbatched = inputs.dim() == 2
        x = inputs.unsqueeze(0) if unbatched else inputs if module.batch_first else inputs.transpose(0, 1)
    h0, c0 = (hx if lstm else (hx, None)) if hx is not None else (None, None)
    if unbatched:
        h0, c0 = (None if s is None else s.unsqueeze(1) for s in (h0, c0))
    directions = 2 if module.bidirectional else 1
    module_y, module_states = output
    module_h, module_c = module_states if lstm else (module_states, None)
    # The last layer's outputs are the module's own: its gates follow from them at once, for every
    # step (one matrix product), where lower layers are recomputed step by step.
    if packed:
        known = pad_packed_sequence(module_y, batch_first=True)[0].detach()
    else:
        known = module_y.detach().unsqueeze(0) if unbatched else module_y.detach() if module.batch_first \
            else module_y.detach().transpose(0, 1)
    known_h = module_h.detach().unsqueeze(1) if unbatched else module_h.detach()
    size = module.hidden_size
    finals_h, finals_c = [], []
    for layer in range(module.num_layers):
        outputs = []
        last = layer == module.num_layers - 1
        for direction in range(directions):
            index = layer * directions + direction
            cell = _Cell(module, layer, direction, rule, valid, arras)
            if last:
                cell.known = (known[..., direction * size:(direction + 1) * size], known_h[index])
            h_init = None if h0 is None else h0[index]
            c_init = None if c0 is None else c0[index]
            y, h_n, c_n = _CellFunction.apply(x, h_init, c_init, cell)
            outputs.append(y)
            finals_h.append(h_n)
            finals_c.append(c_n)
        x = torch.cat(outputs, -1) if directions > 1 else outputs[0]
    h_n, c_n = torch.stack(finals_h), torch.stack(finals_c) if lstm else None
    if packed:
        y_out: Tensor = x[_packed_positions(inputs)]
    else:
        y_out = x.squeeze(0) if unbatched else x if module.batch_first else x.transpose(0, 1)
    if unbatched:
        h_n, c_n = h_n.squeeze(1), None if c_n is None else c_n.squeeze(1)
    new_y = _with_gradient_of(module_y.data if packed else module_y, y_out)
    if packed:
        new_y = module_y._replace(data=new_y)
    new_h = _with_gradient_of(module_h, h_n)
    if lstm:
        return new_y, (new_h, _with_gradient_of(cast(Tensor, module_c), cast(Tensor, c_n)))
    return new_y, new_h


def _with_gradient_of(values: Tensor, graph: Tensor) -> Tensor:
    """``values`` exactly (``graph − graph`` adds an exact 0), with the gradient of ``graph``."""
    return values.detach() + (graph - graph.detach())


def _packed_positions(packed: PackedSequence) -> tuple[Tensor, Tensor]:
    """``(batch, time)`` of every row of ``packed.data``, in its order."""
    n = packed.data.shape[0]
    ids = packed._replace(data=torch.arange(n, device=packed.data.device))
    padded, _ = pad_packed_sequence(ids, batch_first=True, padding_value=-1)
    batch, time = (padded >= 0).nonzero(as_tuple=True)
    order = padded[batch, time]
    rows_batch, rows_time = torch.empty_like(batch), torch.empty_like(time)
    rows_batch[order], rows_time[order] = batch, time
    return rows_batch, rows_time


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den``, 0 where ``den`` is 0 (there the relevance is 0 anyway)."""
    # two kernels, as Pass: 0/0 and c/0 become 0
    return (num / den).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


def _stabilized(rule: AffineRule, z: Tensor) -> Tensor | None:
    """The denominator of ε (``z + ε·sign(z)``, sign(0) = +1) where ``rule`` is ε or LRP-0 (the
    cell then needs no per-step rule call), else None."""
    if type(rule) is Zero or (type(rule) is Epsilon and rule.eps == 0):
        return z
    if type(rule) is Epsilon:
        return torch.where(z >= 0, z + rule.eps, z - rule.eps)
    return None


@dataclass(frozen=True)
class _GatedMap(AffineMap):
    """``[x; h] ↦ W_x x + gate ⊙ (W_h h)``: the GRU's candidate map with its reset gate ``r``
    held constant (``gate`` None: a plain joint map). ``r > 0``, so ``|W|``, ``W⁺`` and ``W⁻``
    of the gated weight are the gated ``|W|``, ``W⁺``, ``W⁻``: every AffineRule reads it right."""

    split: int = 0
    gate: Tensor | None = None
    #: the gate multiplies the state before ``W_h`` (``W_x x + W_h (r ⊙ h)``, :class:`ResetBeforeGRU`)
    gate_before: bool = False

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        weight = self.weight if weight is None else weight
        if self.gate is None:
            return F.linear(x, weight)
        s = self.split
        if self.gate_before:
            return F.linear(x[:, :s], weight[:, :s]) + F.linear(self.gate * x[:, s:], weight[:, s:])
        return F.linear(x[:, :s], weight[:, :s]) + self.gate * F.linear(x[:, s:], weight[:, s:])

    def vjp(self, grad: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        weight = self.weight if weight is None else weight
        if self.gate is None:
            return grad.matmul(weight)
        s = self.split
        if self.gate_before:
            return torch.cat([grad.matmul(weight[:, :s]), self.gate * grad.matmul(weight[:, s:])], 1)
        return torch.cat([grad.matmul(weight[:, :s]), (self.gate * grad).matmul(weight[:, s:])], 1)


class _Cell:
    """One layer and direction of a recurrent module: its forward without a graph, keeping per step
    what the rules' backward needs (``(batch, length, hidden)`` factors), and that backward."""

    def __init__(self, module: nn.LSTM | nn.GRU, layer: int, direction: int, rule: AffineRule,
                 valid: Tensor | None, arras: tuple[float, float] | None = None) -> None:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        self.lstm = isinstance(module, nn.LSTM)
        self.reset_before = isinstance(module, ResetBeforeGRU)
        self.hidden = module.hidden_size
        self.w_ih = cast(Tensor, getattr(module, "weight_ih" + suffix)).detach()
        self.w_hh = cast(Tensor, getattr(module, "weight_hh" + suffix)).detach()
        self.b_ih = cast(Tensor, getattr(module, "bias_ih" + suffix)).detach() if module.bias else None
        self.b_hh = cast(Tensor, getattr(module, "bias_hh" + suffix)).detach() if module.bias else None
        self.reverse = bool(direction)
        self.rule = rule
        self.valid = valid
        #: ``(outputs (batch, length, hidden), final state (batch, hidden))`` where the module gave them
        self.known: tuple[Tensor, Tensor] | None = None
        # to_cell, keep, signal (+ joint input, z for rules without a fused form), each (batch, length, …)
        self.factors: tuple[Tensor, ...] = ()
        #: Arras et al.'s mode: ``(ε, bias_factor)``; its backward reads every step's values from ``steps``
        self.arras = arras
        self.steps: dict[str, Tensor] = {}

    def _order(self, length: int) -> range:
        return range(length - 1, -1, -1) if self.reverse else range(length)

    def _mask(self, t: int) -> Tensor | None:
        return None if self.valid is None else self.valid[:, t, None]

    def _keep_factors(self, x: Tensor, previous: Tensor, z: Tensor, g: Tensor, to_cell: Tensor,
                      keep: Tensor, gate: Tensor) -> None:
        """The backward's factors: ``to_cell`` (LSTM: h → c, ``o·tanh(c)/c``; GRU: the reset gate), ``keep``
        (LSTM: c → c_{t−1}, ``f``; GRU: h → h_{t−1}, ``z``), and ``signal`` (the gradient's factor
        from the cell to the signal's pre-activation: gate · tanh(z)/denominator of the rule)."""
        stabilized = _stabilized(self.rule, z)
        signal = gate * _ratio(g, z if stabilized is None else stabilized)
        general = () if stabilized is not None else (torch.cat([x, previous], -1), z)
        self.factors = (to_cell, keep, signal, *general)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.known is not None:
            return self._forward_known(x, h, c, *self.known)
        batch, length, _ = x.shape
        size = self.hidden
        c0 = c
        # LSTM: both biases at once; GRU: b_hh stays with W_hh h, inside the reset gate's product
        bias = self.b_ih if not self.lstm or self.b_ih is None else self.b_ih + cast(Tensor, self.b_hh)
        from_input = F.linear(x, self.w_ih, bias)  # (batch, length, gates · hidden), every step at once
        ys = x.new_zeros(batch, length, size)
        previous = x.new_empty(batch, length, size)
        for t in self._order(length):
            h_prev, c_prev = h, c
            previous[:, t] = h_prev
            if self.lstm:
                z = torch.addmm(from_input[:, t], h, self.w_hh.t())
                i, f, o = (torch.sigmoid(z[:, k * size:(k + 1) * size]) for k in (0, 1, 3))
                c = torch.addcmul(f * c, i, torch.tanh(z[:, 2 * size:3 * size]))
                h = o * torch.tanh(c)
            else:
                from_state = F.linear(h, self.w_hh, self.b_hh)
                r = torch.sigmoid(from_input[:, t, :size] + from_state[:, :size])
                update = torch.sigmoid(from_input[:, t, size:2 * size] + from_state[:, size:2 * size])
                recurrent = self._candidate_state(r, h, from_state)
                h = (1 - update) * torch.tanh(from_input[:, t, 2 * size:] + recurrent) + update * h
            mask = self._mask(t)
            if mask is not None:
                h = torch.where(mask, h, h_prev)
                if self.lstm:
                    c = torch.where(mask, c, c_prev)
            ys[:, t] = h if mask is None else h * mask
        # the backward's factors, from every step's starting state at once (as for the last layer)
        self._factors(x, previous, c0)
        if self.arras is not None:
            self.steps.update(y=ys, h_n=h, c_n=c)
        return ys, h, c

    def _previous(self, y: Tensor, h0: Tensor) -> Tensor:
        """``(batch, length, hidden)``: the state each step started from, given the outputs ``y``."""
        first = h0.unsqueeze(1)
        if not self.reverse:
            return torch.cat([first, y[:, :-1]], 1)
        later = torch.cat([y[:, 1:], first], 1)
        if self.valid is None:
            return later
        # a sequence's last valid step starts from h0, not from its padding
        started = torch.cat([self.valid[:, 1:], self.valid.new_zeros(y.shape[0], 1)], 1)
        return torch.where(started.unsqueeze(-1), later, first)

    def _forward_known(self, x: Tensor, h0: Tensor, c0: Tensor, y: Tensor,
                       h_n: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c_n = self._factors(x, self._previous(y, h0), c0)
        if self.arras is not None:
            self.steps.update(y=y, h_n=h_n, c_n=c_n)
        return y, h_n, c_n

    def _factors(self, x: Tensor, previous: Tensor, c0: Tensor) -> Tensor:
        """Keep the backward's factors of every step from the states each started from; returns the
        final cell state (LSTM; GRU: ``c0`` unchanged)."""
        size = self.hidden
        if self.lstm:
            bias = None if self.b_ih is None else self.b_ih + cast(Tensor, self.b_hh)
            z = F.linear(x, self.w_ih, bias) + F.linear(previous, self.w_hh)
            i, f, o = (torch.sigmoid(z[..., k * size:(k + 1) * size]) for k in (0, 1, 3))
            z_signal = z[..., 2 * size:3 * size]
            g = torch.tanh(z_signal)
            increment = i * g
            cells = torch.empty_like(g)
            c = c0
            for t in self._order(x.shape[1]):  # the cell state: a scan of products and sums only
                c_new = torch.addcmul(increment[:, t], f[:, t], c)
                mask = self._mask(t)
                c = c_new if mask is None else torch.where(mask, c_new, c)
                cells[:, t] = c
            self._keep_factors(x, previous, z_signal, g, o * _ratio(torch.tanh(cells), cells), f, i)
            if self.arras is not None:
                self.steps = dict(x=x, previous=previous, c_previous=self._previous(cells, c0), cells=cells,
                                  i=i, f=f, g=g, z=z_signal)
            return c
        from_input = F.linear(x, self.w_ih, self.b_ih)
        from_state = F.linear(previous, self.w_hh, self.b_hh)
        r = torch.sigmoid(from_input[..., :size] + from_state[..., :size])
        update = torch.sigmoid(from_input[..., size:2 * size] + from_state[..., size:2 * size])
        z_signal = from_input[..., 2 * size:] + self._candidate_state(r, previous, from_state)
        self._keep_factors(x, previous, z_signal, torch.tanh(z_signal), r, update, 1 - update)
        if self.arras is not None:
            n = torch.tanh(z_signal)
            self.steps = dict(x=x, previous=previous, r=r, u=update, n=n, z=z_signal,
                              h=(1 - update) * n + update * previous)
        return c0

    def _candidate_state(self, r: Tensor, h: Tensor, from_state: Tensor) -> Tensor:
        """The state's part of the GRU's candidate: ``r ⊙ (W_hn h + b_hn)``, or ``W_hn (r ⊙ h) + b_hn``
        for a :class:`ResetBeforeGRU`."""
        size = self.hidden
        if not self.reset_before:
            return r * from_state[..., 2 * size:]
        return F.linear(r * h, self.w_hh[2 * size:], None if self.b_hh is None else self.b_hh[2 * size:])

    def _joint_map(self, gate: Tensor, inputs: int) -> AffineMap:
        rows = slice(2 * self.hidden, 3 * self.hidden)  # the signal: LSTM's g (i, f, g, o), GRU's n (r, z, n)
        weight = torch.cat([self.w_ih[rows], self.w_hh[rows]], 1)
        if self.lstm:
            bias = None if self.b_ih is None else self.b_ih[rows] + cast(Tensor, self.b_hh)[rows]
            return _GatedMap(LINEAR_VIEW, weight, bias, inputs, None)
        if self.reset_before:  # the gate scales the state, not the bias
            bias = None if self.b_ih is None else self.b_ih[rows] + cast(Tensor, self.b_hh)[rows]
        else:
            bias = None if self.b_ih is None else self.b_ih[rows] + gate * cast(Tensor, self.b_hh)[rows]
        return _GatedMap(LINEAR_VIEW, weight, bias, inputs, gate, self.reset_before)

    def backward(self, grad_y: Tensor, grad_h: Tensor, grad_c: Tensor,
                 inputs: int) -> tuple[Tensor, Tensor, Tensor]:
        """Gradients at the input ``(batch, length, in)``, the initial state and cell state."""
        if self.arras is not None:
            return self.backward_arras(grad_y, grad_h, grad_c, inputs)
        rows = slice(2 * self.hidden, 3 * self.hidden)
        w_x, w_h = self.w_ih[rows], self.w_hh[rows]
        to_cell, keep, signal, *general = self.factors
        self.factors = ()
        batch, length, _ = grad_y.shape
        at_signal = grad_y.new_zeros(batch, length, self.hidden)
        grad_x: Tensor | None = None if not general else grad_y.new_zeros(batch, length, inputs)
        for t in reversed(self._order(length)):
            mask = self._mask(t)
            g_h = grad_h + grad_y[:, t]
            if self.lstm:
                g_c = torch.addcmul(grad_c, g_h, to_cell[:, t])
                g_z = g_c * signal[:, t]
                carried = g_c * keep[:, t]  # to c_{t−1}
            else:
                g_z = g_h * signal[:, t]
                carried = g_h * keep[:, t]  # to h_{t−1} directly
            if grad_x is None:
                from_signal = g_z.matmul(w_h) * to_cell[:, t] if self.reset_before else \
                    (g_z if self.lstm else g_z * to_cell[:, t]).matmul(w_h)
                at_signal[:, t] = g_z if mask is None else torch.where(mask, g_z, 0)
            else:
                joint, z = general[0][:, t], general[1][:, t]
                g_joint = self.rule.gradient(self._joint_map(to_cell[:, t], inputs), joint, z, g_z)
                grad_x[:, t] = g_joint[:, :inputs] if mask is None else torch.where(mask, g_joint[:, :inputs], 0)
                from_signal = g_joint[:, inputs:]
            new_h, new_c = (from_signal, carried) if self.lstm else (from_signal + carried, grad_c)
            if mask is None:
                grad_h, grad_c = new_h, new_c
            else:  # a padded step leaves the state as it was: its gradient passes unchanged
                grad_h = torch.where(mask, new_h, g_h)
                grad_c = torch.where(mask, new_c, grad_c)
        if grad_x is None:
            grad_x = at_signal.matmul(w_x)
        return grad_x, grad_h, grad_c


    def backward_arras(self, grad_y: Tensor, grad_h: Tensor, grad_c: Tensor,
                       inputs: int) -> tuple[Tensor, Tensor, Tensor]:
        """Arras et al.'s procedure, step by step in relevance form (``R = value ⊙ gradient``):
        ``R_c += R_h``; ``c_t = f c_{t−1} + i g`` by their ``lrp_linear`` with identity weights
        (ε with sign(c_t), ``N = 2·hidden``); ``R_z = R_g``; the joint map ``[x_t; h_{t−1}] → z``
        by ``lrp_linear`` (both biases, ``N = in + hidden``). GRU alike: ``h_t = (1−u) n + u h_{t−1}``
        is the sum, ``[W_in, diag(r) W_hn]`` the map. Gradients at the inputs are ``R / value``
        (an input at exactly 0 cannot carry relevance: delta shows it, as their initial state)."""
        eps, bias_factor = cast(tuple[float, float], self.arras)
        steps, self.steps = self.steps, {}
        size = self.hidden
        rows = slice(2 * size, 3 * size)
        w_x, w_h = self.w_ih[rows], self.w_hh[rows]
        x, previous, y = steps["x"], steps["previous"], steps["y"]
        zero = x.new_zeros(size)
        b_x = zero if self.b_ih is None else self.b_ih[rows]
        b_h = zero if self.b_hh is None else self.b_hh[rows]
        batch, length, _ = grad_y.shape
        relevance_x = x.new_zeros(batch, length, inputs)
        relevance_h = steps["h_n"] * grad_h
        relevance_c = steps["c_n"] * grad_c
        n_sum, n_map = 2 * size, inputs + size

        def sign(z: Tensor) -> Tensor:
            return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)

        for t in reversed(self._order(length)):
            mask = self._mask(t)
            total_h = relevance_h + y[:, t] * grad_y[:, t]
            if self.lstm:
                total = relevance_c + total_h  # h = o·tanh(c): all of it to the cell
                cell = steps["cells"][:, t]
                shares = total / (cell + eps * sign(cell))
                spread = bias_factor * eps / n_sum * (sign(cell) * shares).sum(-1, keepdim=True)
                to_previous = steps["f"][:, t] * steps["c_previous"][:, t] * shares + spread
                to_signal = steps["i"][:, t] * steps["g"][:, t] * shares + spread
                weight_h, bias = w_h, b_x + b_h
            else:
                state = steps["h"][:, t]
                shares = total_h / (state + eps * sign(state))
                spread = bias_factor * eps / n_sum * (sign(state) * shares).sum(-1, keepdim=True)
                to_previous = steps["u"][:, t] * previous[:, t] * shares + spread
                to_signal = (1 - steps["u"][:, t]) * steps["n"][:, t] * shares + spread
                reset = steps["r"][:, t]
                # the candidate's map of h: diag(r) W_hn (torch), W_hn diag(r) (ResetBeforeGRU)
                weight_h, bias = None, (b_x + b_h if self.reset_before else b_x + reset * b_h)
            z = steps["z"][:, t]
            signal_shares = to_signal / (z + eps * sign(z))  # tanh passes: R_z = R_g
            constant = bias_factor / n_map * ((bias + eps * sign(z)) * signal_shares).sum(-1, keepdim=True)
            step_x = x[:, t] * signal_shares.matmul(w_x) + constant
            if weight_h is not None:
                from_map = signal_shares.matmul(w_h)
            elif self.reset_before:
                from_map = reset * signal_shares.matmul(w_h)
            else:
                from_map = (signal_shares * reset).matmul(w_h)
            step_h = previous[:, t] * from_map + constant
            new_h, new_c = (step_h, to_previous) if self.lstm else (step_h + to_previous, relevance_c)
            if mask is None:
                relevance_h, relevance_c = new_h, new_c
                relevance_x[:, t] = step_x
            else:  # a padded step leaves the state as it was: its relevance passes unchanged
                relevance_h = torch.where(mask, new_h, total_h)
                relevance_c = torch.where(mask, new_c, relevance_c)
                relevance_x[:, t] = torch.where(mask, step_x, 0)
        h0, c0 = steps["h0"], steps["c0"]
        return _ratio(relevance_x, x), _ratio(relevance_h, h0), _ratio(relevance_c, c0)


class _CellFunction(torch.autograd.Function):
    """Values of one layer and direction; its backward runs the recurrent rules."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, h0: Tensor | None, c0: Tensor | None,
                cell: _Cell) -> tuple[Tensor, Tensor, Tensor]:
        state = x.new_zeros(x.shape[0], cell.hidden)
        h = state if h0 is None else h0.detach().to(x.dtype)
        c = state if c0 is None else c0.detach().to(x.dtype)
        ctx.cell, ctx.inputs = cell, x.shape[-1]
        ctx.has_h0, ctx.has_c0 = h0 is not None, c0 is not None
        y, h_n, c_n = cell.forward(x.detach(), h, c)
        if cell.arras is not None:
            cell.steps.update(h0=h, c0=c)
        # fresh tensors: the known outputs belong to the module's own graph
        return y.detach(), h_n.detach(), c_n.detach()

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor, grad_h: Tensor,
                 grad_c: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None, None]:
        grad_x, grad_h0, grad_c0 = ctx.cell.backward(grad_y, grad_h, grad_c, ctx.inputs)
        return grad_x, grad_h0 if ctx.has_h0 else None, grad_c0 if ctx.has_c0 else None, None
