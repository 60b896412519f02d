"""Code blocks of Markdown pages (the site's and the README's), run as a reader would run them.

A page's ```python blocks run in order in one namespace, as in a notebook; each line of a ```sh
block that calls ``doclrp`` runs through ``doclrp.cli.main``; both in one folder per page, so a
command can write what a later Python block reads. Data and models a page assumes are replaced
by small stand-ins (``STAND_INS``, every one a real doclrp call); lines that cannot run inside a
test suite are listed in ``SKIPPED`` with the reason. Blocks in any other language are output or
data and are not run; ``RUNNABLE`` and ``SHOWN`` say which languages are which, and a block in a
language that is in neither fails the test, so no code hides from it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import torch

from doclrp.corpus import open_corpus
from doclrp.models.hf import HFPipeline
from doclrp.models.loading import pretrained_path
from references import WORDS, bpe_tokenizer, docx_bytes, pdf_of_text, tiny_causal_lm, tiny_model, word_tokenizer

__all__ = ["BLOCK", "RUNNABLE", "SHOWN", "SKIPPED", "STAND_INS", "blocks", "build_site", "make_stand_in_data",
           "prepare_folder", "run_sh_line", "sh_lines", "skipped_reason", "stand_in"]

ROOT = Path(__file__).resolve().parents[1]
#: A fenced block: its fence, its language (the info string's first word) and its code; a line
#: ``<!-- not run: REASON -->`` right above it says why the test cannot run it (another library's code).
BLOCK = re.compile(r"^(?:<!-- not run: (?P<not_run>[^\n]+?) -->\n)?(?P<fence>`{3,}|~{3,})(?P<lang>[^\s`]*)[^\n]*\n"
                   r"(?P<code>.*?)^(?P=fence)[ \t]*$", re.S | re.M)
RUNNABLE = {"python", "sh"}
#: Languages of blocks that show output or data; MyST directives (```{note}) are not code.
SHOWN = {"text", "json", "jsonl", "csv", "toml", "html", ""}

#: Lines that cannot run inside the test suite (a prefix of the line, after `$`), and why.
SKIPPED = {
    "make demo": "installs into .venv; its last step, `doclrp demo`, is tested by tests/test_cli_demo.py",
    "make test": "is this test suite",
    "make docs": "builds this site: tests/test_docs_site.py does it",
    "make install": "installs into .venv",
    "make serve": "installs, then runs `doclrp serve` until Ctrl+C (tests/test_cli_serve.py)",
    "python3.11 -m venv": "creates a virtual environment",
    "pip install": "installs packages (the test environment has them)",
    ".venv/bin/pip install": "installs packages (the test environment has them)",
    "source .venv/bin/activate": "changes the shell; the test calls doclrp directly",
    "git clone": "needs the network",
    "cd ": "changes the shell's folder; each page runs in its own folder",
    "pytest": "is this test suite",
    ".venv/bin/python -m pytest": "is this test suite",
    "doclrp serve": "runs a server until Ctrl+C; tests/test_cli_serve.py starts the same command and stops it",
    "ray start": "starts a Ray cluster (tens of seconds); tests/test_corpus_run_ray.py runs the same engine",
    "ray stop": "stops a Ray cluster",
    "--engine ray": "starts a Ray cluster (tens of seconds); the same run is tests/test_corpus_run_ray.py",
    "RAY_ADDRESS=": "connects to a Ray cluster of several machines",
    "nvidia-smi": "needs a GPU",
    "open ": "opens a browser",
    "xdg-open ": "opens a browser",
}

#: What stands in for data, models and devices the pages assume (every one a real doclrp call).
STAND_INS = """
- the corpora `bbc` and `vader` (--corpus, --input): the first 10 BBC documents of each class (headline and first
  paragraph) and 40 VADER sentences, with their real labels and targets, in a folder / a JSONL file;
- `doclrp/pretrained/bbc-cnn` (and `models/bbc-cnn`): the shipped model (a link), unless the page trains it;
- `--epochs 1` on every `doclrp train`, `--docs 3` on `doclrp evaluate`;
- `--model minilm` (with `--max-len 64`) and the fine-tuned `models/minilm-bbc`, `models/minilm-news` a page does
  not make itself: a tiny BERT classifier folder (tests/references.py);
- `--device cuda` becomes `--device cpu` without CUDA;
- `path/to/llm`: a tiny GPT-2 language model folder with a byte-level tokenizer that knows the label words;
  `prompt.txt`: a template;
- `doc.txt`, `corpus.jsonl`, `reviews.jsonl`, `report.pdf`, `letter.docx`: small files written into the page's
  folder (unless a page writes its own);
- `http://127.0.0.1:8765`: a real `doclrp serve` app started by the test on a free port.
"""


def blocks(text: str) -> Iterator[tuple[str, str, str | None]]:
    """Every fenced block of a Markdown text as (language, code, why it is not run or None);
    MyST directives come as ``{name}``."""
    for match in BLOCK.finditer(text):
        yield match["lang"], match["code"], match["not_run"]


def sh_lines(code: str) -> list[list[str]]:
    """Each command of a sh block as argv (a leading ``$`` dropped), continuations joined, comments dropped."""
    lines = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.strip().removeprefix("$ ").strip()
        if line and not line.startswith("#"):
            lines.append(shlex.split(line, comments=True))
    return lines


def skipped_reason(argv: list[str]) -> str | None:
    """Why a command line cannot run here (``SKIPPED``), or None."""
    if os.path.basename(argv[0]) == "doclrp":  # .venv/bin/doclrp is the same command
        argv = ["doclrp", *argv[1:]]
    line = shlex.join(argv)
    for key, reason in SKIPPED.items():
        if line.startswith(key) or (key.startswith("--") and key in argv):
            return reason
    return None


def make_stand_in_data(root: Path) -> dict[str, Path]:
    """Small stand-ins for the corpora and models the pages name (see ``STAND_INS``)."""
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
    tokenizer = bpe_tokenizer("byte-level", max_length=256, texts=[
        "Article: Topic: In short: business politics sport tech",
        "Shares in the chip maker rose after strong results.", "The team won the cup final."])
    tiny_causal_lm("gpt2", vocab=len(tokenizer), positions=256).save_pretrained(llm)
    tokenizer.save_pretrained(llm)
    return {"bbc": bbc, "vader": vader, "hf": hf, "llm": llm}


def stand_in(argv: list[str], data: dict[str, Path]) -> list[str]:
    """``argv`` (after ``doclrp``) with the stand-ins of ``STAND_INS``."""
    argv = list(argv)
    for flag in ("--corpus", "--input"):
        if flag in argv:
            i = argv.index(flag) + 1
            argv[i] = str(data.get(argv[i], argv[i]))
    if argv and argv[0] == "train":
        argv += ["--epochs", "1"]
        if "--model" in argv and argv[argv.index("--model") + 1] == "minilm":
            argv[argv.index("--model") + 1] = str(data["hf"])
            if "--max-len" in argv:  # the stand-in has 64 positions
                argv[argv.index("--max-len") + 1] = "64"
    if argv and argv[0] == "evaluate":
        argv += ["--docs", "3"]
    if "--device" in argv and argv[argv.index("--device") + 1].startswith("cuda") and not torch.cuda.is_available():
        argv[argv.index("--device") + 1] = "cpu"
    return [{"DIR": "models/bbc-cnn"}.get(a, a) for a in argv]


def prepare_folder(folder: Path, data: dict[str, Path], trained: set[str] = frozenset()) -> None:
    """The files a page assumes in its folder: the checkout's shipped model path, inputs, HF folders."""
    shipped = folder / "doclrp" / "pretrained"
    shipped.mkdir(parents=True)
    (shipped / "bbc-cnn").symlink_to(pretrained_path())
    (folder / "models").mkdir()
    if "models/bbc-cnn" not in trained:
        (folder / "models" / "bbc-cnn").symlink_to(pretrained_path())
    for name in ("minilm-bbc", "minilm-news"):  # the fine-tuned MiniLM a page assumes from a tutorial
        if f"models/{name}" not in trained:
            (folder / "models" / name).symlink_to(data["hf"])
    (folder / "path" / "to").mkdir(parents=True)
    (folder / "path" / "to" / "hf-folder").symlink_to(data["hf"])
    (folder / "path" / "to" / "llm").symlink_to(data["llm"])
    (folder / "prompt.txt").write_text("Article: {text}\nTopic:", encoding="utf-8")
    (folder / "report.pdf").write_bytes(pdf_of_text("Chip maker results", [
        "Shares in the chip maker rose after strong results.", "Analysts were surprised by the profits."]))
    (folder / "letter.docx").write_bytes(docx_bytes(["Dear investors,", "the bank reported strong profits."]))
    (folder / "examples").symlink_to(ROOT / "examples")
    (folder / "doc.txt").write_text("Shares in the chip maker rose after strong results.\n\nAnalysts were surprised.",
                                    encoding="utf-8")
    rows = [{"id": str(n), "text": ("the team won good goal" if n % 2 else "the stock market fell bad") + f" {n % 5}",
             "label": "pos" if n % 2 else "neg"} for n in range(40)]
    for name in ("corpus.jsonl", "reviews.jsonl"):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def run_sh_line(argv: list[str], data: dict[str, Path]) -> int:
    """Run one command line of a page: ``doclrp`` (or ``.venv/bin/doclrp``) through ``doclrp.cli.main``,
    ``python FILE`` through runpy; anything else must be in ``SKIPPED``."""
    from doclrp.cli import main

    program = os.path.basename(argv[0])
    if program == "doclrp":
        try:
            return main(stand_in(argv[1:], data))
        except SystemExit as exit:  # --help and --version end through argparse
            return int(exit.code or 0)
    if program in ("python", "python3") and argv[1].endswith(".py"):
        import runpy
        import sys

        saved = sys.argv
        sys.argv = argv[1:]
        try:
            runpy.run_path(argv[1], run_name="__main__")
        except SystemExit as exit:
            return int(exit.code or 0)
        finally:
            sys.argv = saved
        return 0
    raise AssertionError(f"command {shlex.join(argv)!r} is neither doclrp, python FILE, nor listed in SKIPPED")


def build_site(out: Path) -> Path:
    """Build the site from docs/ into ``out`` with the command `make docs` runs; fails with Sphinx's output."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, f"the site does not build cleanly:\n{done.stdout}\n{done.stderr}"
    return out
