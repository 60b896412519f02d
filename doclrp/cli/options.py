"""Parsed command-line values turned into library objects, once, at the edge.

>>> from types import SimpleNamespace
>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["up", "down"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> method_from_args(SimpleNamespace(method=None, param=[]), pipe)
LRP('epsilon', eps=1e-06, recurrent=None, bias_factor=0.0)
>>> target_from_args(SimpleNamespace(target="pos=1,neg=-1", reference=None), pipe).weights
(-1.0, 1.0)
"""

from __future__ import annotations

import sys

from doclrp._explain import resolve_target
from doclrp.cli.parsers import parse_params, parse_reference, parse_target
from doclrp.core import Attributor, Target, resolve_method
from doclrp.errors import DoclrpError
from doclrp.models.loading import resolve_device

__all__ = ["method_from_args", "target_from_args", "device_from_args", "say_device"]


def method_from_args(args, pipeline=None) -> Attributor | None:
    """The attributor of ``--method`` (alias ``--composite``) and ``--param``; without
    ``--method``, ``pipeline``'s own default (None when no pipeline is given)."""
    params = parse_params(args.param)
    name = args.method or (None if pipeline is None else pipeline.default_composite)
    if name is None:
        if params:
            raise DoclrpError("--param needs --method: the parameters belong to a named method")
        return None
    return resolve_method(name, **params)


def target_from_args(args, pipeline) -> Target:
    """The target of ``--target`` and ``--reference`` on ``pipeline``'s outputs."""
    spec, reference = parse_target(args.target), parse_reference(getattr(args, "reference", None))
    return resolve_target(spec, pipeline, reference)


def device_from_args(args, stream=None) -> str:
    """``--device`` resolved (``auto``: CUDA when available, else the CPU), written back to
    ``args.device`` and said as the command's first line, ``device: cpu``.

    >>> from types import SimpleNamespace
    >>> device_from_args(SimpleNamespace(device="cpu"))
    device: cpu
    'cpu'
    """
    args.device = resolve_device(args.device)
    say_device(args.device, stream)
    return args.device


def say_device(device: str, stream=None) -> None:
    """The line that names the device a command runs on."""
    print(f"device: {device}", file=stream or sys.stdout, flush=True)
