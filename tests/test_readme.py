"""Every command and code block of README.md runs, so the page cannot drift from the code.

The ```python blocks run in order in one namespace, as in a notebook; each ```sh block runs
its ``doclrp`` lines through ``doclrp.cli.main`` in a fresh folder. Where a block would train
for minutes or needs files the README assumes, a small stand-in takes their place (listed in
STAND_INS); what cannot run here at all is listed in SKIPPED, with the reason.
"""

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from doclrp.cli import main
from doclrp.corpus import open_corpus
from doclrp.models.hf import HFPipeline
from doclrp.models.loading import load_model, pretrained_path
from references import WORDS, bpe_tokenizer, docx_bytes, pdf_of_text, tiny_causal_lm, tiny_model, word_tokenizer

pytestmark = pytest.mark.slow  # every README command, end to end: about a minute on 2 cores

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)

#: Lines that cannot run inside the test suite, and why.
SKIPPED = {
    "make demo": "installs into .venv; its last step, `doclrp demo`, runs below (Command line)",
    "make test": "is this test suite",
    "--engine ray": "starts a Ray cluster (tens of seconds); the same run is tests/test_corpus_run_ray.py",
    "doclrp serve": "runs a server until Ctrl+C; tests/test_cli_serve.py starts the same command and stops it",
}

#: What stands in for data, models and devices the README assumes (every one a real doclrp call).
STAND_INS = """
- the corpora `bbc` and `vader` (--corpus, --input): the first 10 BBC documents of each class (headline and first paragraph) and
  40 VADER sentences, with their real labels and targets, in a folder / a JSONL file;
- `models/bbc-cnn`: the shipped model (a link), unless the block trains it (then on the small corpus);
- `--epochs 1` on every `doclrp train`, `--docs 3` on `doclrp evaluate`;
- `DIR`: models/bbc-cnn; `doc.txt`, `corpus.jsonl`, `reviews.jsonl`, `report.pdf`, `letter.docx`: small files
  written here;
- `kim-text.keras`, `cnn.onnx` and their `vocab.txt`: a Keras text CNN and doclrp's TextCNN exported to
  ONNX, built here over a small TextVectorization vocabulary;
- `path/to/hf-folder` and `models/minilm-bbc`: a tiny BERT classifier folder (tests/references.py);
- `path/to/llm`: a tiny GPT-2 language model folder with a byte-level tokenizer; `prompt.txt`: a template;
- `--device cuda` becomes `--device cpu` without CUDA;
- Python: `model`/`inputs` a small MLP and a batch; the custom-attention block a model with an
  `encoder.0.attn` of fused q|k|v; the LRP Toolbox files written by the test.
"""


def readme_blocks():
    return [(lang, code) for lang, code in BLOCK.findall(README.read_text(encoding="utf-8"))]


def sh_lines(code: str) -> list[list[str]]:
    """Each command of a sh block as argv, continuations joined and comments dropped."""
    return [shlex.split(line, comments=True) for line in code.replace("\\\n", " ").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small stand-ins for the corpora and models the README names (see STAND_INS)."""
    root = tmp_path_factory.mktemp("readme-data")
    bbc, per_class = root / "bbc", {}
    for record in open_corpus("bbc"):
        if per_class.setdefault(record.label, 0) < 10:
            per_class[record.label] += 1
            (bbc / record.label).mkdir(parents=True, exist_ok=True)
            # The headline and first paragraph: occlusion in `doclrp evaluate` costs a forward pass per token.
            short = "\n\n".join(record.text.split("\n\n")[:2])
            (bbc / record.label / f"{record.id.replace('/', '-')}.txt").write_text(short, encoding="utf-8")
    names = ["neg", "neu", "pos", "compound"]
    vader = root / "vader.jsonl"
    with vader.open("w", encoding="utf-8") as handle:
        for n, record in zip(range(40), open_corpus("vader", target_columns=names)):
            handle.write(json.dumps({"id": record.id, "text": record.text, **dict(zip(names, record.targets))}) + "\n")
    hf = root / "hf"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=64),
               word_tokenizer(max_length=64)).save(hf)
    llm = root / "llm"
    tokenizer = bpe_tokenizer("byte-level", max_length=256,
                              texts=["Article: Topic: In short: business politics sport tech", *LLM_TEXTS])
    tiny_causal_lm("gpt2", vocab=len(tokenizer), positions=256).save_pretrained(llm)
    tokenizer.save_pretrained(llm)
    return {"bbc": bbc, "vader": vader, "hf": hf, "llm": llm}


#: What the stand-in language model's tokenizer is trained on (besides the README's label words).
LLM_TEXTS = ("Shares in the chip maker rose after strong results.", "The team won the cup final.")


def _stand_in(argv: list[str], data) -> list[str]:
    argv = list(argv)
    for flag in ("--corpus", "--input"):
        if flag in argv:
            i = argv.index(flag) + 1
            argv[i] = str(data.get(argv[i], argv[i]))
    if argv[0] == "train":
        argv += ["--epochs", "1"]
    if argv[0] == "evaluate":
        argv += ["--docs", "3"]
    if "--device" in argv and argv[argv.index("--device") + 1] == "cuda" and not torch.cuda.is_available():
        argv[argv.index("--device") + 1] = "cpu"
    return [{"DIR": "models/bbc-cnn"}.get(a, a) for a in argv]


def _prepare_folder(folder: Path, commands: list[list[str]], data) -> None:
    trained = {c[c.index("--out") + 1] for c in commands if c[0] == "train"}
    (folder / "models").mkdir()
    if "models/bbc-cnn" not in trained:
        (folder / "models" / "bbc-cnn").symlink_to(pretrained_path())
    (folder / "path" / "to").mkdir(parents=True)
    (folder / "path" / "to" / "hf-folder").symlink_to(data["hf"])
    (folder / "path" / "to" / "llm").symlink_to(data["llm"])
    (folder / "prompt.txt").write_text("Article: {text}\nTopic:", encoding="utf-8")
    (folder / "doc.txt").write_text("Shares in the chip maker rose after strong results.\n\nAnalysts were surprised.",
                                    encoding="utf-8")
    rows = [{"id": str(n), "text": ("the team won good goal" if n % 2 else "the stock market fell bad") + f" {n % 5}",
             "label": "pos" if n % 2 else "neg"} for n in range(40)]
    for name in ("corpus.jsonl", "reviews.jsonl"):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _document_files(folder)
    if any("kim-text.keras" in c or "cnn.onnx" in c for c in commands):
        _model_files(folder)


def _document_files(folder: Path) -> None:
    """The README's report.pdf and letter.docx."""
    (folder / "report.pdf").write_bytes(pdf_of_text("Chip maker results", [
        "Shares in the chip maker rose after strong results.", "Analysts were surprised by the profits."]))
    (folder / "letter.docx").write_bytes(docx_bytes(["Dear investors,", "the bank reported strong profits."]))


def _model_files(folder: Path) -> None:
    """The Keras and ONNX text models of the README's model-file commands, and their vocabulary."""
    import os
    import warnings

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from doclrp.models import TextCNN

    words = ["", "[UNK]", "the", "shares", "rose", "after", "match", "team", "won", "market", "fell", "good"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    ids = keras.Input((16,), dtype="int32")
    embedded = keras.layers.Embedding(len(words), 4)(ids)
    pooled = [keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(3, k, activation="relu")(embedded))
              for k in (2, 3)]
    keras.Model(ids, keras.layers.Dense(2)(keras.layers.Concatenate()(pooled))).save(folder / "kim-text.keras")
    cnn = TextCNN(vocab_size=len(words), embed_dim=4, widths=(2, 3), channels=3, n_outputs=2).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(cnn, (torch.randint(1, len(words), (2, 9)),), folder / "cnn.onnx", dynamo=False,
                          input_names=["ids"], dynamic_axes={"ids": {0: "batch", 1: "seq"}})


SH_BLOCKS = [code for lang, code in readme_blocks() if lang == "sh"]


@pytest.mark.parametrize("code", SH_BLOCKS, ids=[f"sh{n}" for n in range(len(SH_BLOCKS))])
def test_readme_commands_run(code, data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = sh_lines(code)
    commands = [argv[1:] for argv in lines if argv[0] == "doclrp"]
    _prepare_folder(tmp_path, commands, data)
    for argv in lines:
        line = shlex.join(argv)
        if any(key in line for key in SKIPPED):
            continue
        assert argv[0] == "doclrp", f"README command {line!r} is neither doclrp nor listed in SKIPPED"
        code = main(_stand_in(argv[1:], data))
        captured = capsys.readouterr()
        assert code == 0, f"{line}\n{captured.err}"


class _Attention(nn.Module):
    """Single-head self-attention with one fused q|k|v projection (the README's own module)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v


class _Layer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.attn = _Attention(dim)

    def forward(self, x):
        return x + self.attn(x)


class _Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.encoder = nn.ModuleList([_Layer(8)])
        self.head = nn.Linear(8, 3)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.encoder:
            x = layer(x)
        return self.head(x.mean(1))


def _toolbox_files(folder: Path) -> None:
    rng = np.random.default_rng(0)

    def write(name, layers):
        lines = []
        for kind, *parts in layers:
            if kind == "Linear":
                weight, bias = parts
                lines += [f"Linear {weight.shape[0]} {weight.shape[1]}", " ".join(map(repr, weight.ravel().tolist())),
                          " ".join(map(repr, bias.tolist()))]
            elif kind == "Convolution":
                weight, bias = parts
                lines += ["Convolution " + " ".join(map(str, (*weight.shape, 1, 1))),
                          " ".join(map(repr, weight.ravel().tolist())), " ".join(map(repr, bias.tolist()))]
            elif kind == "SumPool":
                lines.append("SumPool 2 2 2 2")
            else:
                lines.append(kind)
        (folder / name).write_text("\n".join(lines) + "\n")

    write("long-rect.txt", [("Linear", rng.normal(size=(784, 16)), np.zeros(16)), ("Rect",),
                            ("Linear", rng.normal(size=(16, 10)), np.zeros(10)), ("SoftMax",)])
    write("lenet.txt", [("Convolution", rng.normal(size=(5, 5, 1, 2)), np.zeros(2)), ("Rect",), ("SumPool",),
                        ("Flatten",), ("Linear", rng.normal(size=(12 * 12 * 2, 10)), np.zeros(10)), ("SoftMax",)])


def test_readme_python_blocks_run_in_order(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "minilm-bbc").symlink_to(data["hf"])
    _toolbox_files(tmp_path)
    _document_files(tmp_path)
    torch.manual_seed(0)
    namespace = {
        "model": nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5)), "inputs": torch.rand(2, 6),
        "images_nhwc": torch.rand(2, 28, 28, 1),
    }
    blocks = [code for lang, code in readme_blocks() if lang == "python"]
    assert len(blocks) >= 6
    for number, code in enumerate(blocks):
        if "encoder.0.attn" in code:  # the custom-attention block explains its own model
            namespace.update(model=_Encoder(), ids=torch.randint(0, 20, (2, 5)))
        try:
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"README python block {number} failed:\n{code}") from error
    assert namespace["e"] is not None
    # What the README states about its own examples.
    assert namespace["target"].weights == (-0.5, 1.0, -0.5)
    assert load_model(pretrained_path()).labels == ["business", "entertainment", "politics", "sports", "tech"]


def test_readme_input_formats_read_as_documented(tmp_path):
    """The corpus section's JSONL and CSV examples read to the same records, fields as described."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Corpora at scale"):]
    section = section[:section.index("\n## ", 1)]
    examples = dict(re.findall(r"^```(jsonl|csv)\n(.*?)^```", section, re.S | re.M))
    assert set(examples) == {"jsonl", "csv"}
    for field in ("`id`", "`text`", "`label`", "target columns", "--target-column"):
        assert field in section, field
    read = {}
    for kind, lines in examples.items():
        path = tmp_path / f"corpus.{kind}"
        path.write_text(lines, encoding="utf-8")
        read[kind] = list(open_corpus(path, target_columns=["stars"]))
    assert read["jsonl"] == read["csv"]
    assert [(r.id, r.label, r.targets) for r in read["csv"]] == [("r1", "pos", (4.5,)), ("r2", "neg", (1.0,))]


def test_the_readmes_install_line_matches_the_makefile_and_pyproject_cites_files_that_exist():
    import re

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    extras = re.search(r"-e '\.\[([a-z,]+)\]'", makefile).group(1)
    assert f"pip install -e '.[{extras}]'" in (ROOT / "README.md").read_text(encoding="utf-8")
    comments = [line for line in (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
                if line.lstrip().startswith("#")]
    for name in re.findall(r"([\w/.-]+\.md)", "\n".join(comments)):
        assert (ROOT / name).is_file(), f"pyproject.toml cites {name}, which is not in the repository"


def test_corpus_help_says_both_engines_honour_the_document_timeout(capsys):
    from doclrp.cli import main

    with pytest.raises(SystemExit):
        main(["corpus", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Both engines (local, ray) honour it" in text and "Local engine only" not in text
