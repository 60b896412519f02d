"""A Hugging Face sequence classifier or regressor as a doclrp text pipeline.

>>> from transformers import AutoModelForSequenceClassification, AutoTokenizer
>>> from doclrp.models.hf import HFPipeline, minilm_path
>>> folder = minilm_path()
>>> model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)  # doctest: +SKIP
>>> pipeline = HFPipeline(model, AutoTokenizer.from_pretrained(folder))              # doctest: +SKIP
>>> [(ids, spans)] = pipeline.tokens(["Shares fell."])                               # doctest: +SKIP
>>> inputs, kwargs, positions, specials = pipeline.collate([ids, ids[:1]])           # doctest: +SKIP
>>> positions, specials                                                              # doctest: +SKIP
([[1, 2, 3], [1]], [['[CLS]', '[SEP]'], ['[CLS]', '[SEP]', '[PAD]', '[PAD]']])

``HFPipeline`` speaks the *sequence protocol* of ``doclrp.explain``: the texts'
model tokens with their character spans (``tokens``, never truncated), windows of
at most ``max_tokens`` tokens turned into a padded batch with the model's special
tokens (``collate``), and the column of every content token so that relevance can
be read back per token. Sub-word pieces are merged into words by the caller, via
the spans. A folder written by :meth:`HFPipeline.save` (``save_pretrained`` of model
and tokenizer, safetensors, plus ``doclrp.json`` with labels, task and metrics)
loads with :func:`load_hf_pipeline`, or with ``transformers`` alone. Loading never
touches the network.

Supported: ``AutoModelForSequenceClassification`` encoders (BERT and MiniLM, DistilBERT,
RoBERTa, ALBERT, ELECTRA, ERNIE, XLM-RoBERTa, CamemBERT, MPNet, ModernBERT, DeBERTa v2/v3)
and decoder classifiers (Llama, Mistral, Qwen2, Qwen3, Gemma, Phi-3, GPT-2) with a fast
tokenizer, transformers 4.48 to 5.x: the test suite passes on 4.57.6 and 5.24 (and on 4.48.3
and 5.17 for BERT, DistilBERT and RoBERTa; on 4.x the encoders whose reference attention goes
through transformers 5's attention registry skip their rule-against-reference tests).
"""

from __future__ import annotations

import inspect
import json
import pickle
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from doclrp._atomic import write_text
from doclrp.core.targets import TASKS
from doclrp.errors import DoclrpError
from doclrp.text import Prediction
from doclrp.text.pipeline import first_window_outputs

__all__ = ["HFPipeline", "load_hf_pipeline", "special_template", "encode_texts", "RandomHeadWarning", "untrained_head",
           "check_hf_folder", "SAFE_LOADING", "check_config_sizes", "loading_errors", "takes_row_positions", "DOCLRP_JSON",
           "TASKS"]

DOCLRP_JSON = "doclrp.json"
FORMAT_VERSION = 1
#: Every ``from_pretrained`` of doclrp: offline, and never code from the folder (an explicit
#: False, so that transformers raises instead of asking on the terminal).
SAFE_LOADING: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
# tokenizers without a real limit report a huge model_max_length (int(1e30))
_NO_LIMIT = 1_000_000


def padding_aware_positions(model: nn.Module) -> bool:
    """Whether ``model`` numbers positions from its padding id (RoBERTa and kin): its
    embeddings make position ids from the input ids (a method in transformers 5, a
    module function next to an embeddings ``padding_idx`` in 4.x)."""
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    return hasattr(embeddings, "create_position_ids_from_input_ids") or hasattr(embeddings, "padding_idx")


def takes_row_positions(model: nn.Module) -> bool:
    """Whether ``collate`` gives ``model`` position ids per row: where it would broadcast one
    row over the batch and its ``forward`` takes ``position_ids`` (DistilBERT's does not
    before transformers 5; there the engine copies the shared row per sample itself).

    >>> import torch
    >>> takes_row_positions(torch.nn.Linear(2, 2))
    False
    """
    if padding_aware_positions(model):
        return False
    try:
        return "position_ids" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _transformers():
    try:
        import transformers  # lazily: seconds to import, needed only for Hugging Face folders
    except ImportError:
        raise DoclrpError("Hugging Face models need the transformers package: pip install 'transformers>=4.48'") from None
    return transformers


@contextmanager
def quiet(transformers):
    """transformers without its info logs and progress bars, restored afterwards."""
    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def _probe_text(tokenizer) -> str:
    return "hello" if tokenizer.unk_token is None or "hello" in tokenizer.get_vocab() else "a"


def special_template(tokenizer: Any) -> tuple[list[int], list[int]]:
    """``(before, after)``: the special token ids ``tokenizer`` puts around one text ([CLS] … [SEP],
    <s> …), read off by encoding one word with and without them, which works the same in every
    transformers version."""
    probe = _probe_text(tokenizer)
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    start = next((i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), None)
    if start is None:
        raise DoclrpError(f"cannot find the special-token template of {type(tokenizer).__name__}")
    return list(full[:start]), list(full[start + len(bare) :])


def encode_texts(tokenizer: Any, texts: Sequence[Any]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Per text: ``tokenizer``'s token ids (no specials, not truncated) and their character spans.

    ``texts``: strings, or objects with a ``.text`` (``doclrp.text.Document``).
    """
    if isinstance(texts, str):
        raise DoclrpError("expected a list of texts, got one str: wrap it in a list")
    strings = [t if isinstance(t, str) else getattr(t, "text", None) for t in texts]
    if any(not isinstance(s, str) for s in strings):
        raise DoclrpError("tokens() takes strings or documents with a .text attribute")
    if not strings:
        return []
    encoded = tokenizer(strings, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
    return [
        (list(ids), [(int(a), int(b)) for a, b in spans])
        for ids, spans in zip(encoded["input_ids"], encoded["offset_mapping"])
    ]


@dataclass
class HFPipeline:
    """Tokenizer + ``AutoModelForSequenceClassification`` model + output names + task.

    ``labels``: one name per model output (default, None or empty: ``config.id2label``); ``task``:
    ``"regression"`` where ``config.problem_type == "regression"`` (default, None or empty), else
    ``"classification"``. The model is put in eval mode.
    """

    # a transformers PreTrainedModel (an nn.Module): transformers is imported lazily, and its
    # config's fields (num_labels, id2label, pad_token_id…) are read by name
    model: Any
    tokenizer: Any
    labels: list[str] = field(default_factory=list)
    task: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    default_composite: str = "attnlrp"

    def __post_init__(self) -> None:
        config = getattr(self.model, "config", None)
        if config is None or not hasattr(config, "num_labels"):
            raise DoclrpError(
                f"{type(self.model).__name__} is not a transformers model with a config; "
                "load one with AutoModelForSequenceClassification.from_pretrained"
            )
        if not getattr(self.tokenizer, "is_fast", False):
            raise DoclrpError(
                f"{type(self.tokenizer).__name__} is not a fast tokenizer: character offsets need one; "
                "load it with AutoTokenizer.from_pretrained(folder) (use_fast=True)"
            )
        if not self.labels:
            self.labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
        self.labels = [str(label) for label in self.labels]
        if len(self.labels) != config.num_labels:
            raise DoclrpError(
                f"the model has {config.num_labels} outputs but {len(self.labels)} labels were given: one name per output"
            )
        if not self.task:
            self.task = "regression" if config.problem_type == "regression" else "classification"
        if self.task not in TASKS:
            raise DoclrpError(f"task must be one of {TASKS}, got {self.task!r}")
        model_pad = getattr(config, "pad_token_id", None)
        if self.tokenizer.pad_token_id is None and isinstance(model_pad, int):
            # Decoder tokenizers often come without one; the config names the id the model was
            # trained to skip (its classifier reads the last token before it).
            self.tokenizer.pad_token = self.tokenizer.convert_ids_to_tokens(model_pad)
        if self.tokenizer.pad_token_id is None:
            raise DoclrpError(f"{type(self.tokenizer).__name__} has no pad token; set tokenizer.pad_token first")
        if isinstance(model_pad, int) and model_pad != self.tokenizer.pad_token_id:
            # A decoder's classifier would read a padding token's state, RoBERTa would shift positions
            raise DoclrpError(
                f"the tokenizer pads with id {self.tokenizer.pad_token_id} but the model's config.pad_token_id is "
                f"{model_pad}: make them the same (tokenizer.pad_token or config.pad_token_id)"
            )
        self.model.eval()
        # The single-sequence template ([CLS] … [SEP], <s> … </s>)
        self._prefix, self._suffix = special_template(self.tokenizer)

    # -- what the model is -----------------------------------------------------------------
    @property
    def output_names(self) -> list[str]:
        """Alias of ``labels``."""
        return self.labels

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def max_tokens(self) -> int:
        """Content tokens per window: the model's maximum length less its special tokens."""
        config = self.model.config
        limit = self.tokenizer.model_max_length
        positions = getattr(config, "max_position_embeddings", None)
        if positions is not None:
            # RoBERTa-style position ids start after the padding index
            offset = config.pad_token_id + 1 if self._padding_aware_positions() else 0
            limit = min(limit, positions - offset)
        if limit >= _NO_LIMIT:
            raise DoclrpError("the tokenizer and model name no maximum length; set tokenizer.model_max_length")
        return limit - len(self._prefix) - len(self._suffix)

    def _padding_aware_positions(self) -> bool:
        return padding_aware_positions(self.model)

    # -- the sequence protocol --------------------------------------------------------------
    def tokens(self, texts: Sequence[Any]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Per text: the model's token ids (no specials, not truncated) and their character spans.

        ``texts``: strings, or objects with a ``.text`` (``doclrp.text.Document``).

        >>> pipeline.tokens(["Shares fell."])  # doctest: +SKIP
        [([6661, 3062, 1012], [(0, 6), (7, 11), (11, 12)])]
        """
        return encode_texts(self.tokenizer, texts)

    def collate(self, windows: Sequence[Sequence[int]]) -> tuple[Tensor, dict, list[list[int]], list[list[str]]]:
        """A padded batch ``(batch, seq)`` of ``windows`` (content token ids) with the special tokens added.

        Returns ``(inputs, forward_kwargs, positions, special_names)``: ``positions[i][j]``
        is the column of row ``i`` holding content token ``j``; ``special_names[i]`` names
        the other columns of row ``i``, in column order ("[CLS]", "[SEP]", "[PAD]"…).
        ``forward_kwargs`` holds the attention mask and, where the model would broadcast
        one row of position ids over the batch, per-row position ids (so that the
        relevance of position embeddings is per document).
        """
        if not windows:
            raise DoclrpError("collate needs at least one window")
        too_long = [len(w) for w in windows if len(w) > self.max_tokens]
        if too_long:
            raise DoclrpError(f"a window of {too_long[0]} tokens exceeds max_tokens={self.max_tokens}; split it")
        rows = [self._prefix + [int(t) for t in w] + self._suffix for w in windows]
        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        inputs = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            inputs[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        start = len(self._prefix)
        positions = [list(range(start, start + len(w))) for w in windows]
        names = self.tokenizer.convert_ids_to_tokens(self._prefix), self.tokenizer.convert_ids_to_tokens(self._suffix)
        pad_name = self.tokenizer.pad_token
        special_names = [names[0] + names[1] + [pad_name] * (width - len(row)) for row in rows]
        kwargs = {"attention_mask": mask.to(self.device)}
        if takes_row_positions(self.model):
            kwargs["position_ids"] = torch.arange(width, device=self.device).expand(len(rows), width)
        return inputs.to(self.device), kwargs, positions, special_names

    # -- predictions -----------------------------------------------------------------------
    def outputs(self, texts: Sequence[str], batch_size: int = 32) -> Tensor:
        """Model outputs ``(batch, n_outputs)`` on the first ``max_tokens`` tokens of each text.

        (``doclrp.explain`` covers long texts with overlapping windows instead.)
        """
        return first_window_outputs(self, texts, batch_size)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list:
        """One :class:`doclrp.text.Prediction` per text (label, probabilities, values)."""
        return [Prediction.from_logits(row, self.labels, self.task) for row in self.outputs(texts, batch_size)]

    # -- storage ---------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write model (safetensors), tokenizer and ``doclrp.json`` to ``folder``; returns its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = self.model.config
        config.id2label = dict(enumerate(self.labels))
        config.label2id = {label: i for i, label in enumerate(self.labels)}
        if self.task == "regression":
            config.problem_type = "regression"
        with quiet(_transformers()):
            self.model.save_pretrained(folder, safe_serialization=True)
            self.tokenizer.save_pretrained(folder)
        try:
            version = metadata.version("doclrp")
        except metadata.PackageNotFoundError:
            version = "unknown"
        info = {
            "format_version": FORMAT_VERSION, "doclrp_version": version, "kind": "transformers",
            "labels": self.labels, "task": self.task, "default_composite": self.default_composite,
            "metrics": self.metrics,
        }
        write_text(folder / DOCLRP_JSON, json.dumps(info, indent=1, ensure_ascii=False) + "\n")
        return folder


def hf_folder(folder: str | Path) -> Path:
    """``folder`` as a Path, if it holds a Hugging Face model (its ``config.json``)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise DoclrpError(f"no Hugging Face model folder at {folder} (config.json missing): check the path")
    return folder


#: Weight files that are pickles (torch.load), in the names transformers and torch give them.
_PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def _json_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DoclrpError(f"{path} is not valid JSON ({error}); fix or replace it") from None
    if not isinstance(data, dict):
        raise DoclrpError(f"{path} holds a JSON {type(data).__name__}, not an object; fix or replace it")
    return data


def check_hf_folder(folder: str | Path, allow_pickle: bool = False) -> bool:
    """Refuse what would run code from ``folder`` when it is loaded; whether to load safetensors.

    Custom code (``auto_map`` in ``config.json`` or ``tokenizer_config.json``) is never
    imported. Weights load from safetensors; a folder whose weights are pickled only
    (``pytorch_model.bin``) is refused unless ``allow_pickle`` (unpickling can run code).
    Returns True where the weights are safetensors, False for allowed pickles.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text('{"model_type": "bert"}')
    >>> _ = (folder / "pytorch_model.bin").write_bytes(b"")
    >>> check_hf_folder(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: ... holds pickled weights only (pytorch_model.bin): ...
    >>> check_hf_folder(folder, allow_pickle=True)
    False
    """
    folder = Path(folder)
    for name in ("config.json", "tokenizer_config.json"):
        auto_map = _json_object(folder / name).get("auto_map")
        if auto_map:
            files = sorted({str(v).split(".")[0] + ".py" for v in _flat_values(auto_map)})
            raise DoclrpError(
                f"{folder / name} asks for custom code ({', '.join(files[:3])} via auto_map): doclrp never runs "
                "code from a model folder; use a model of a family transformers ships"
            )
    check_config_sizes(_json_object(folder / "config.json"), folder / "config.json")
    if any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file():
        return True
    pickles = sorted(p.name for pattern in _PICKLES for p in folder.glob(pattern))
    if pickles and not allow_pickle:
        raise DoclrpError(
            f"{folder} holds pickled weights only ({', '.join(pickles[:2])}): unpickling can run code hidden "
            "in the file; convert them to safetensors, or pass --allow-pickle (allow_pickle=True) if you trust "
            "where the folder comes from"
        )
    if not pickles:
        raise DoclrpError(f"{folder} holds no model weights (model.safetensors): check the folder")
    return False


#: config.json fields that are sizes (any family's names): whole numbers of at least 1 where given.
SIZE_FIELDS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size",
               "max_position_embeddings", "num_key_value_heads", "n_embd", "n_head", "n_layer", "n_positions",
               "n_inner", "dim", "n_heads", "n_layers", "hidden_dim")
#: (width, heads) pairs: the width splits evenly over the heads.
_HEAD_SPLITS = (("hidden_size", "num_attention_heads"), ("n_embd", "n_head"), ("dim", "n_heads"))


def check_config_sizes(config: dict[str, Any], path: str | Path = "config.json") -> None:
    """Refuse a configuration whose sizes are not whole numbers of at least 1, or whose width
    does not split over its attention heads: transformers would fail deep inside with a
    traceback (a ``"sixteen"``, a division by zero heads).

    >>> check_config_sizes({"hidden_size": 16, "num_attention_heads": 2})
    >>> check_config_sizes({"hidden_size": "sixteen"})
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: config.json: hidden_size must be a whole number of at least 1, got 'sixteen'; fix the model's configuration
    >>> check_config_sizes({"hidden_size": 16, "num_attention_heads": 3})
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: config.json: hidden_size 16 does not split over num_attention_heads 3; fix the model's configuration
    """
    for key in SIZE_FIELDS:
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DoclrpError(f"{path}: {key} must be a whole number of at least 1, got {value!r}; "
                              "fix the model's configuration")
    for width, heads in _HEAD_SPLITS:
        if isinstance(config.get(width), int) and isinstance(config.get(heads), int) and config[width] % config[heads]:
            raise DoclrpError(f"{path}: {width} {config[width]} does not split over {heads} {config[heads]}; "
                              "fix the model's configuration")


#: What transformers and torch raise on a folder whose files are damaged or inconsistent.
LOADING_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, ZeroDivisionError, EOFError,
                  AssertionError,  # torch's layers assert some fields (Embedding: padding_idx < num_embeddings)
                  pickle.UnpicklingError)

_LOADERS = ("transformers", "huggingface_hub", "tokenizers", "safetensors")


@contextmanager
def loading_errors(folder: str | Path) -> Iterator[None]:
    """Errors of loading the files in ``folder`` (a damaged file, a configuration transformers
    cannot build, pickled weights torch's safe loader refuses) as one line.

    >>> with loading_errors("models/x"):
    ...     raise ZeroDivisionError("integer modulo by zero")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: cannot load the model in models/x: integer modulo by zero (ZeroDivisionError)
    """
    try:
        yield
    except DoclrpError:
        raise
    except pickle.UnpicklingError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        why = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), lines[-1] if lines else "")
        raise DoclrpError(f"cannot load the model in {folder}: torch's safe loader refuses its pickled weights "
                          f"({why.rstrip('.')}); doclrp unpickles nothing but tensors: convert the weights to "
                          "safetensors") from None
    except Exception as error:
        # The loaders' own error types (huggingface_hub's validation of a config's fields) count too.
        if not isinstance(error, LOADING_ERRORS) and type(error).__module__.split(".")[0] not in _LOADERS:
            raise
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        # a first line that ends in a colon announces the reason on the next
        first = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines[0] if lines else "")
        raise DoclrpError(f"cannot load the model in {folder}: {first or type(error).__name__}"
                          f"{f' ({type(error).__name__})' if first and not isinstance(error, OSError) else ''}"
                          ) from None


def _flat_values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flat_values(item)]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flat_values(item)]
    return [] if value is None else [value]


class RandomHeadWarning(UserWarning):
    """A Hugging Face folder whose weights hold no trained classification head."""


def untrained_head(missing_keys: Sequence[str], base_prefix: str) -> list[str]:
    """The missing weights outside the base model: a head that ``from_pretrained`` made up at random.

    >>> untrained_head(["classifier.weight", "classifier.bias", "bert.pooler.dense.weight"], "bert")
    ['classifier.weight', 'classifier.bias']
    >>> untrained_head([], "bert")
    []
    """
    return [key for key in missing_keys if not key.startswith(f"{base_prefix}.")]


def load_hf_pipeline(folder: str | Path, device: str | torch.device = "cpu", *,
                     allow_pickle: bool = False) -> HFPipeline:
    """An :class:`HFPipeline` from a local folder of ``save_pretrained`` files (no network).

    ``doclrp.json``, where present, supplies labels, task and metrics; else they
    come from the model's config. No code from the folder runs and nothing prompts
    (:func:`check_hf_folder`, ``trust_remote_code=False``); pickled weights load only
    with ``allow_pickle``.

    >>> load_hf_pipeline("no/such/folder")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: no Hugging Face model folder at no/such/folder (config.json missing): check the path
    """
    folder = hf_folder(folder)
    use_safetensors = check_hf_folder(folder, allow_pickle=allow_pickle)
    transformers = _transformers()
    info: dict[str, Any] = {}
    if (folder / DOCLRP_JSON).is_file():
        try:
            info = json.loads((folder / DOCLRP_JSON).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DoclrpError(f"{folder / DOCLRP_JSON} is not valid JSON ({error}); remove or fix it") from None
    with loading_errors(folder), quiet(transformers):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **SAFE_LOADING)
        model, loading = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=use_safetensors, output_loading_info=True, **SAFE_LOADING)
    # transformers' own notice of this is an info log, silenced above with the rest; a random head
    # gives fluent explanations of nothing, so it is said here, once per load.
    head = untrained_head(loading.get("missing_keys", []), model.base_model_prefix)
    if head:
        warnings.warn(f"{folder} has no trained classification head ({', '.join(sorted(head)[:3])}"
                      f"{', ...' if len(head) > 3 else ''} missing from its weights, initialised at random): its "
                      "predictions and explanations are of a random head; fine-tune it first "
                      f"(doclrp train --model {folder})", RandomHeadWarning, stacklevel=2)
    return HFPipeline(
        model.to(device), tokenizer, labels=info.get("labels") or [], task=info.get("task") or "",
        metrics=info.get("metrics", {}), default_composite=info.get("default_composite", "attnlrp"),
    )
