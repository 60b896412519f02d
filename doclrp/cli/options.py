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
from pathlib import Path
from typing import Any

from doclrp._explain import resolve_target
from doclrp.cli.parsers import parse_params, parse_reference, parse_target
from doclrp.core import Attributor, Target, resolve_method
from doclrp.errors import DoclrpError
from doclrp.models.loading import resolve_device

__all__ = ["method_from_args", "target_from_args", "device_from_args", "say_device", "prompt_from_args",
           "prompt_options"]


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


def prompt_from_args(args) -> str | None:
    r"""The prompt template of ``--prompt`` or ``--prompt-file`` (read as UTF-8), or None.

    >>> from types import SimpleNamespace
    >>> prompt_from_args(SimpleNamespace(prompt="Article: {text}\\nTopic:", prompt_file=None))
    'Article: {text}\nTopic:'
    """
    given = getattr(args, "prompt", None)
    if given is not None:
        # written on one command line: the escapes a shell does not make
        return given.replace("\\n", "\n").replace("\\t", "\t")
    path = getattr(args, "prompt_file", None)
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DoclrpError(f"no such file: {path} (--prompt-file)") from None
    except UnicodeDecodeError as error:
        raise DoclrpError(f"{path} is not UTF-8 text (byte {error.start}); convert it to UTF-8") from None
    except OSError as error:
        raise DoclrpError(f"cannot read {path}: {error.strerror or error}") from None


def prompt_options(args, labels_needed: bool = True) -> dict[str, Any]:
    """``load_model``'s keyword arguments for a causal language model read with a prompt
    (``--prompt``/``--prompt-file``, ``--label-prefix``, ``--chat``; the labels travel as
    ``--labels`` do for every model); ``{}`` without a prompt. ``labels_needed``: a classifier's
    (``--generate`` needs none).

    >>> from types import SimpleNamespace
    >>> prompt_options(SimpleNamespace(prompt="{text} Topic:", prompt_file=None, labels=["sport", "tech"],
    ...                                label_prefix=" ", chat=False))
    {'prompt': '{text} Topic:', 'chat': False, 'label_prefix': ' '}
    >>> prompt_options(SimpleNamespace(prompt=None, prompt_file=None, labels=None, label_prefix=" ", chat=True))
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: --chat needs --prompt (or --prompt-file): it is about a language model's prompt
    """
    prompt = prompt_from_args(args)
    if prompt is None:
        for flag, given in (("--chat", getattr(args, "chat", False)),
                            ("--label-prefix", getattr(args, "label_prefix", " ") != " ")):
            if given:
                raise DoclrpError(f"{flag} needs --prompt (or --prompt-file): it is about a language model's prompt")
        return {}
    if labels_needed and not getattr(args, "labels", None):
        raise DoclrpError("--prompt needs --labels: the label words whose scores the model gives, e.g. "
                          "--labels business,sport,tech")
    return {"prompt": prompt, "chat": bool(getattr(args, "chat", False)),
            "label_prefix": getattr(args, "label_prefix", " ")}
