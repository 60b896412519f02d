"""Text models from files of other frameworks (Keras ``.keras``/``.h5``, ONNX ``.onnx``) with the
vocabulary they were trained with, as a pipeline that ``explain``, corpus runs, evaluation and the
web app use like any other: ``load_model_file(path, vocab, labels)``.

>>> import pathlib, tempfile, warnings, torch
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "vocab.txt").write_text("\\n[UNK]\\ngood\\nbad\\n")  # a Keras TextVectorization vocabulary
>>> class Bag(torch.nn.Module):  # a model over word ids, exported to ONNX by torch
...     def __init__(self):
...         super().__init__()
...         self.embedding, self.out = torch.nn.Embedding(4, 3), torch.nn.Linear(3, 2)
...     def forward(self, ids):
...         return self.out(self.embedding(ids).sum(1))
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # torch announces its newer exporter
...     torch.onnx.export(Bag().eval(), (torch.tensor([[2, 3]]),), folder / "m.onnx", dynamo=False,
...                       dynamic_axes={"ids": {0: "batch", 1: "seq"}}, input_names=["ids"])
>>> pipeline = load_model_file(folder / "m.onnx", folder / "vocab.txt", ["neg", "pos"])
>>> pipeline.tokens(["Good, good!"])
[([2, 2], [(0, 4), (6, 10)])]
>>> pipeline.outputs(["Good, bad"]).shape
torch.Size([1, 2])

A vocabulary is one of:

- a Keras ``TextVectorization`` vocabulary (``layer.get_vocabulary()``: ``''`` for padding at id 0,
  ``[UNK]`` at 1, then the words), one per line in a ``.txt`` file or as a JSON list: words are
  lower-cased and punctuation is left out, as ``TextVectorization``'s default standardization does;
- a ``vocab.txt`` (one token per line, its line number its id; ``[PAD]``/``<pad>`` and
  ``[UNK]``/``<unk>`` name padding and unknown words): whole words, or WordPiece pieces where it
  has ``##`` continuations;
- a Hugging Face ``tokenizer.json`` (read by the ``tokenizers`` library; no code runs).

Documents become ids with their character spans (so words get their relevance as for doclrp's own
models), padded at the end with the padding id to the model's fixed input length, if it has one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from doclrp.core.session import output_tensor
from doclrp.errors import DoclrpError
from doclrp.text import Prediction, tokenize_many
from doclrp.text.pipeline import first_window_outputs

__all__ = ["load_model_file", "read_vocabulary", "WordVocabulary", "SubwordVocabulary", "ImportedTextPipeline",
           "MODEL_FILE_KINDS", "VOCABULARY_HELP"]

#: File suffixes of models read with a vocabulary, and what reads them.
MODEL_FILE_KINDS = {".keras": "Keras", ".h5": "Keras", ".onnx": "ONNX"}
VOCABULARY_HELP = ("a vocab.txt, a Hugging Face tokenizer.json, or a Keras TextVectorization vocabulary "
                   "(get_vocabulary(), one word per line)")
#: Tokens per document window for a model without a fixed input length.
DEFAULT_MAX_TOKENS = 400
#: Input lengths tried, from 1, to find the fewest tokens a model of any length runs on.
_MIN_LENGTH_PROBES = 64
_PADS, _UNKNOWNS = ("[PAD]", "<pad>", ""), ("[UNK]", "<unk>", "<UNK>")


def _has_word_character(token: str) -> bool:
    return any(c.isalnum() for c in token)


@dataclass
class WordVocabulary:
    """Whole words → ids (``tokens[i]`` has id ``i``); unknown words → ``unk_token_id``.
    ``keras``: ``TextVectorization``'s layout and standardization (lower case, no punctuation)."""

    tokens: list[str]
    pad_token_id: int
    unk_token_id: int
    lower: bool = True
    keras: bool = False
    mask_token_id: None = None
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {}
        for i, token in enumerate(self.tokens):
            self.index.setdefault(token, i)

    def __len__(self) -> int:
        return len(self.tokens)

    def tokens_of(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Per text: the ids of its words (spaCy's rule tokenizer) and their character spans."""
        out = []
        for doc in tokenize_many(list(texts), pipeline="blank"):
            words = [w for w in doc.words if not self.keras or _has_word_character(w.text)]
            ids = [self.index.get(w.text.lower() if self.lower else w.text, self.unk_token_id) for w in words]
            out.append((ids, [(w.start, w.end) for w in words]))
        return out


@dataclass
class SubwordVocabulary:
    """A ``tokenizers.Tokenizer`` (WordPiece from a ``vocab.txt`` with ``##`` pieces, or a
    ``tokenizer.json``): sub-word ids with their character offsets, no special tokens added."""

    tokenizer: Any
    pad_token_id: int
    unk_token_id: int | None
    mask_token_id: int | None = None

    def __len__(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def tokens_of(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [(list(e.ids), [(int(a), int(b)) for a, b in e.offsets]) for e in encodings]


Vocabulary = WordVocabulary | SubwordVocabulary


def _first(tokens: Sequence[str], names: Sequence[str]) -> int | None:
    return next((tokens.index(name) for name in names if name in tokens), None)


def _from_tokens(tokens: list[str], path: Path) -> Vocabulary:
    if len(tokens) < 2:
        raise DoclrpError(f"--vocab {path}: fewer than two tokens")
    if tokens[0] == "" and tokens[1] == "[UNK]":  # TextVectorization.get_vocabulary()
        return WordVocabulary(tokens, 0, 1, lower=True, keras=True)
    pad, unk = _first(tokens, _PADS), _first(tokens, _UNKNOWNS)
    if any(token.startswith("##") for token in tokens):
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers  # with transformers

        if unk is None:
            raise DoclrpError(f"--vocab {path}: a WordPiece vocabulary needs an [UNK] token")
        lower = not any(t != t.lower() for t in tokens if not t.startswith("[") and not t.startswith("<"))
        tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token=tokens[unk]))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lower)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return SubwordVocabulary(tokenizer, pad if pad is not None else 0, unk)
    if unk is None:
        raise DoclrpError(f"--vocab {path}: no unknown-word token ([UNK] or <unk>) among its tokens")
    lower = not any(t != t.lower() for t in tokens if t not in _PADS and t not in _UNKNOWNS)
    return WordVocabulary(tokens, pad if pad is not None else 0, unk, lower=lower)


def read_vocabulary(path: str | Path) -> Vocabulary:
    """The vocabulary in ``path`` (see the module docstring).

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
    >>> _ = path.write_text("[PAD]\\n[UNK]\\nthe\\ncat\\n")
    >>> read_vocabulary(path).tokens_of(["The dog"])
    [([2, 1], [(0, 3), (4, 7)])]
    """
    path = Path(path)
    if not path.is_file():
        raise DoclrpError(f"--vocab {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DoclrpError(f"--vocab {path}: not readable as UTF-8 text ({error})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DoclrpError(f"--vocab {path}: not valid JSON ({error})") from None
        if isinstance(data, list) and all(isinstance(t, str) for t in data):
            return _from_tokens(data, path)
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            from tokenizers import Tokenizer  # with transformers

            try:
                tokenizer = Tokenizer.from_str(text)
            except Exception as error:  # the library's own errors: one line
                raise DoclrpError(f"--vocab {path}: not a readable tokenizer.json ({error})") from None
            pad = tokenizer.token_to_id("[PAD]") if tokenizer.token_to_id("[PAD]") is not None \
                else tokenizer.token_to_id("<pad>")
            unk = tokenizer.token_to_id("[UNK]") if tokenizer.token_to_id("[UNK]") is not None \
                else tokenizer.token_to_id("<unk>")
            return SubwordVocabulary(tokenizer, pad if pad is not None else 0, unk)
        raise DoclrpError(f"--vocab {path}: a JSON vocabulary is a list of words or a tokenizer.json")
    return _from_tokens(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), path)


@dataclass
class ImportedTextPipeline:
    """A model read from a file, its vocabulary and output names: the sequence protocol of
    ``doclrp.explain`` (``tokens``, ``collate``, ``max_tokens``) and ``outputs``/``predict``.

    ``length``: the model's fixed input length (every batch is padded to it), or None;
    ``min_length``: the fewest tokens it runs on (shorter batches are padded to it: a convolution
    wider than a short document).
    """

    model: nn.Module
    tokenizer: Vocabulary
    labels: list[str]
    task: str = "classification"
    length: int | None = None
    min_length: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)
    default_composite: str = "epsilon"
    source: str = ""

    @property
    def output_names(self) -> list[str]:
        return self.labels

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def max_tokens(self) -> int:
        return self.length or DEFAULT_MAX_TOKENS

    def tokens(self, texts: Sequence[Any]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Per text (a string or a document with ``.text``): token ids and their character spans."""
        if isinstance(texts, str):
            raise DoclrpError("expected a list of texts, got one str: wrap it in a list")
        strings = [t if isinstance(t, str) else getattr(t, "text", None) for t in texts]
        if any(not isinstance(s, str) for s in strings):
            raise DoclrpError("tokens() takes strings or documents with a .text attribute")
        return self.tokenizer.tokens_of([str(s) for s in strings]) if strings else []

    def collate(self, windows: Sequence[Sequence[int]]) -> tuple[Tensor, dict[str, Any], list[list[int]],
                                                                  list[list[str]]]:
        """``(ids (batch, width), {}, positions, padding names)``; width: the fixed length or the longest."""
        if not windows:
            raise DoclrpError("collate needs at least one window")
        width = self.length or max(self.min_length, *map(len, windows))
        if any(len(w) > width for w in windows):
            raise DoclrpError(f"a window exceeds the model's input length {width}; split it")
        ids = torch.full((len(windows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, :len(window)] = torch.tensor(list(window), dtype=torch.long)
        positions = [list(range(len(w))) for w in windows]
        specials = [["[PAD]"] * (width - len(w)) for w in windows]
        return ids.to(self.device), {}, positions, specials

    def outputs(self, texts: Sequence[str], batch_size: int = 32) -> Tensor:
        """Model outputs ``(batch, n_outputs)`` on the first ``max_tokens`` tokens of each text."""
        return first_window_outputs(self, texts, batch_size)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        return [Prediction.from_logits(row, self.labels, self.task) for row in self.outputs(texts, batch_size)]


def _token_input(model: nn.Module, path: Path) -> int | None:
    """The fixed length of the model's one token input, or None; refuses models of other inputs."""
    shapes = getattr(model, "input_shapes", None)
    if shapes is None:
        return None
    if len(shapes) != 1 or len(shapes[0]) != 1:
        described = ", ".join(str(tuple(s)) for s in shapes)
        raise DoclrpError(f"{path} takes inputs of shapes {described}; the command line explains models of one "
                          "input of token ids (batch, seq): use doclrp.attribute(model, inputs) for others")
    length = shapes[0][0]
    return int(length) if length else None


def load_model_file(path: str | Path, vocab: str | Path | None, labels: Sequence[str] | None = None,
                    device: str = "cpu") -> ImportedTextPipeline:
    """A Keras or ONNX text model file with its vocabulary, as a pipeline; ``labels``: one name per
    output (default ``0, 1, …``)."""
    path = Path(path)
    kind = MODEL_FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise DoclrpError(f"{path}: not a model file doclrp reads with a vocabulary (.keras, .h5, .onnx)")
    if vocab is None:
        raise DoclrpError(f"{path} is a {kind} model file: pass the vocabulary it was trained with, --vocab FILE "
                          f"({VOCABULARY_HELP}), and its output names, --labels a,b,c")
    vocabulary = read_vocabulary(vocab)
    if kind == "Keras":
        from doclrp.models.keras import read_keras_model

        model: nn.Module = read_keras_model(path)
    else:
        from doclrp.models.onnx_files import read_onnx_model

        model = read_onnx_model(path)
    length = _token_input(model, path)
    model = model.to(device).eval()
    n_outputs, min_length, failure = None, 1, ""
    unknown = vocabulary.unk_token_id if vocabulary.unk_token_id is not None else 0
    # the fewest tokens the model runs on (its widest convolution, where the file does not say)
    for probe_length in [length] if length else range(1, _MIN_LENGTH_PROBES + 1):
        probe = torch.full((1, probe_length), vocabulary.pad_token_id, dtype=torch.long, device=device)
        probe[0, 0] = unknown
        try:
            with torch.no_grad():
                n_outputs = output_tensor(model(probe)).shape[-1]
        except (RuntimeError, IndexError, ValueError) as error:
            failure = str(error)
            continue
        min_length = probe_length
        break
    if n_outputs is None:
        raise DoclrpError(f"{path} does not run on token ids of this vocabulary ({failure}); is it a text model "
                          "over token ids?")
    if labels is None:
        labels = [str(i) for i in range(n_outputs)]
    if len(labels) != n_outputs:
        raise DoclrpError(f"--labels names {len(labels)} outputs but {path} has {n_outputs}")
    embeddings = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    if embeddings and embeddings[0].num_embeddings < len(vocabulary):
        raise DoclrpError(f"--vocab has {len(vocabulary)} tokens but the model's embedding has "
                          f"{embeddings[0].num_embeddings} rows: is it the model's vocabulary?")
    for embedding in embeddings:
        if embedding.padding_idx is None:
            # the vocabulary names the padding; occlusion and the random baseline ask the embedding
            embedding.padding_idx = vocabulary.pad_token_id
    return ImportedTextPipeline(model, vocabulary, [str(label) for label in labels], length=length,
                                min_length=min_length, source=str(path))
