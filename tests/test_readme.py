"""README.md is a front page that works: every command and code block in it runs, the output it
shows is what the command prints, it stays short, and its links into the site point at pages that
exist. The details live on the site (docs/), whose own blocks tests/test_docs_blocks.py runs.

The ```python blocks run in order in one namespace, as in a notebook; each ```sh block runs its
``doclrp`` lines through ``doclrp.cli.main`` in a fresh folder, with the stand-ins and skipped
lines of ``doc_blocks`` (the same as the site's: a small BBC and VADER corpus, the shipped model,
``--docs 3`` on evaluate; ``make``, ``source`` and ``doclrp serve`` do not run here).
"""

import re
from pathlib import Path

import pytest
import torch

import doc_blocks
from doc_blocks import blocks, prepare_folder, run_sh_line, sh_lines, skipped_reason
from doclrp.models.loading import load_model, pretrained_path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The most lines the front page may have (issue 27): everything longer belongs on the site.
MAX_LINES = 300


def readme_blocks():
    return list(blocks(README.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return doc_blocks.make_stand_in_data(tmp_path_factory.mktemp("readme-data"))


def test_the_readme_is_a_front_page_and_its_links_exist():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES
    for heading in ("## Install", "## Quickstart", "### The next three commands", "## Benchmarks", "## Developing"):
        assert f"\n{heading}\n" in text, heading
    assert "source .venv/bin/activate" in text and "doclrp/pretrained/bbc-cnn" in text and "make test" in text
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert len(local) >= 20, local
    generated = _generated_pages()
    for link in local:
        assert (ROOT / link).exists() or (ROOT / link).resolve() in generated, \
            f"README links to {link}, which is not in the repository and the site's build does not make"


def _generated_pages() -> set[Path]:
    """The pages the site's build writes into docs/ (ignored by git: the command line, the HTTP API,
    the benchmark tables), made here so the links to them are checked in any order of the tests."""
    import sys

    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        from doclrp_site import generate
    finally:
        sys.path.pop(0)
    return {path.resolve() for path in generate(ROOT / "docs")}


SH_BLOCKS = [code for lang, code, _ in readme_blocks() if lang == "sh"]


@pytest.mark.slow
@pytest.mark.parametrize("code", SH_BLOCKS, ids=[f"sh{n}" for n in range(len(SH_BLOCKS))])
def test_readme_commands_run(code, data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    prepare_folder(tmp_path, data)
    for argv in sh_lines(code):
        if skipped_reason(argv):
            continue
        status = run_sh_line(argv, data)
        captured = capsys.readouterr()
        assert status == 0, f"{' '.join(argv)}\n{captured.err}"


@pytest.mark.slow
def test_the_quickstart_prints_what_the_readme_shows(data, tmp_path, monkeypatch, capsys):
    """The first command after installing: the shipped model by its path in the checkout, no stand-in."""
    monkeypatch.chdir(tmp_path)
    prepare_folder(tmp_path, data)
    items = readme_blocks()
    number = next(n for n, (lang, code, _) in enumerate(items) if lang == "sh" and "doclrp explain" in code)
    (argv,) = sh_lines(items[number][1])
    assert argv[:4] == ["doclrp", "explain", "--model", "doclrp/pretrained/bbc-cnn"]
    capsys.readouterr()
    assert run_sh_line(argv, data) == 0
    shown = items[number + 1]
    assert shown[0] == "text"
    assert capsys.readouterr().out.strip() == shown[1].strip()


@pytest.mark.slow
def test_readme_python_blocks_run_in_order(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare_folder(tmp_path, data)
    torch.manual_seed(0)
    namespace: dict = {"__name__": "__main__"}
    python = [code for lang, code, _ in readme_blocks() if lang == "python"]
    assert len(python) >= 2
    for number, code in enumerate(python):
        try:
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"README python block {number} failed:\n{code}") from error
    # What the README states about its own examples.
    assert namespace["e"].prediction.label == "business"
    assert list(namespace["frame"].columns)[:5] == ["word", "start", "end", "sentence", "relevance"]
    assert namespace["target"].weights == (-0.5, 1.0, -0.5)
    assert namespace["attr"].relevance.shape == (2, 6)
    assert load_model(pretrained_path()).labels == ["business", "entertainment", "politics", "sports", "tech"]


def test_every_readme_block_is_run_or_output():
    for lang, _, not_run in readme_blocks():
        assert not_run is None
        assert lang in doc_blocks.RUNNABLE | doc_blocks.SHOWN, f"a ```{lang} block is neither run nor output"


def test_the_readmes_install_line_matches_the_makefile_and_pyproject_cites_files_that_exist():
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
