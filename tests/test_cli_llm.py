"""A causal language model as a classifier on the command line: --prompt/--prompt-file, --labels,
--chat in explain, corpus, evaluate and serve; bad prompts and labels one line, exit 2."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

pytest.importorskip("transformers")

from references import run_cli, tiny_causal_lm, word_tokenizer  # noqa: E402

PROMPT = "the {text} on"
TEXT = "the cat sat on the mat"


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm") / "tiny-llama"
    tiny_causal_lm("llama").save_pretrained(folder)
    word_tokenizer("llama", max_length=64).save_pretrained(folder)
    return folder


def test_explain_a_prompted_label_with_a_page(lm_folder, tmp_path, capsys):
    page = tmp_path / "page.html"
    code, out, err = run_cli(capsys, "explain", "--model", str(lm_folder), "--prompt", PROMPT, "--labels",
                             "good,bad,very fast", "--text", TEXT, "--target", "bad", "--out", str(page),
                             "--device", "cpu")
    assert code == 0, err
    assert "target bad" in out and "prediction:" in out
    html = page.read_text(encoding="utf-8")
    # the prompt's words on the page, apart from the document; the other labels in the target switch
    assert '<dt>prompt</dt>' in html and ">on</span>" in html and "very fast-vs-rest" in html


def test_the_prompt_comes_from_a_file_and_escapes_a_line_break(lm_folder, tmp_path, capsys):
    template = tmp_path / "prompt.txt"
    template.write_text("the {text}\non", encoding="utf-8")
    code, out, err = run_cli(capsys, "explain", "--model", str(lm_folder), "--prompt-file", str(template),
                             "--labels", "good,bad", "--text", TEXT, "--device", "cpu")
    assert code == 0, err
    code, same, err = run_cli(capsys, "explain", "--model", str(lm_folder), "--prompt", "the {text}\\non",
                              "--labels", "good,bad", "--text", TEXT, "--device", "cpu")
    assert code == 0, err
    assert same == out


@pytest.mark.parametrize("argv, message", [
    (["--chat"], "--chat needs --prompt"),
    (["--prompt", PROMPT], "--prompt needs --labels"),
    (["--prompt", "no document here", "--labels", "good,bad"], "must hold {text} once"),
    (["--prompt", PROMPT, "--labels", "good,Good"], "labels 'good' and 'Good' tokenize to the same tokens"),
    (["--prompt", PROMPT, "--labels", "good,bad", "--chat"], "--chat: the model's tokenizer has no chat template"),
    (["--prompt-file", "no/such/prompt.txt", "--labels", "good"], "no such file: no/such/prompt.txt"),
])
def test_bad_prompts_and_labels_are_one_line_and_exit_2(lm_folder, capsys, argv, message):
    code, out, err = run_cli(capsys, "explain", "--model", str(lm_folder), "--text", TEXT, "--device", "cpu", *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_corpus_runs_record_the_prompt_and_never_continue_another_one(lm_folder, tmp_path, capsys):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t, "label": "good"}) + "\n"
                              for i, t in enumerate([TEXT, "dog ran fast", "the market fell"])), encoding="utf-8")
    out = tmp_path / "results.jsonl"
    args = ["corpus", "--model", str(lm_folder), "--input", str(corpus), "--out", str(out), "--prompt", PROMPT,
            "--labels", "good,bad", "--device", "cpu", "--quiet"]
    code, printed, err = run_cli(capsys, *args)
    assert code == 0, err
    header, *records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert header["model_options"]["prompt"] == PROMPT and header["labels"] == ["good", "bad"]
    assert len(records) == 3
    for record in records:   # the prompt's words in one sum: the record still adds up
        total = sum(w[3] for w in record["words"]) + sum(record["special"].values()) + record["delta"]
        assert "[prompt]" in record["special"] and total == pytest.approx(record["target_value"], abs=1e-5)
    code, printed, err = run_cli(capsys, *args[:-5], "--labels", "good,fast", "--device", "cpu", "--quiet")
    assert code == 2 and "--overwrite" in err, err
    # the report's pages re-explain their documents for every label with the run's prompt and labels
    from doclrp.corpus import summarize

    summary = summarize(out, tmp_path / "report", min_df=1, pages=1, progress=False)
    assert "with a switch" in summary.pages_note, summary.pages_note


def test_evaluate_scores_methods_on_a_prompted_language_model(lm_folder, tmp_path, capsys):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t, "label": label}) + "\n" for i, (t, label) in
                              enumerate([(TEXT, "good"), ("dog ran very fast", "bad"), ("the market fell", "bad"),
                                         ("the team won the goal", "good")])), encoding="utf-8")
    code, out, err = run_cli(capsys, "evaluate", "--model", str(lm_folder), "--corpus", str(corpus), "--split",
                             "all", "--docs", "4", "--methods", "attnlrp,gradient-x-input", "--k", "2", "--steps",
                             "2", "--prompt", PROMPT, "--labels", "good,bad", "--device", "cpu")
    assert code == 0, err
    assert "attnlrp" in out and "gradient-x-input" in out


def test_serve_loads_language_model_folders_with_the_prompt(lm_folder, capsys, monkeypatch):
    uvicorn = pytest.importorskip("uvicorn")
    from fastapi.testclient import TestClient

    from doclrp.cli.parsers import build_parser
    from doclrp.cli.serve import _models
    from doclrp.serve import create_app

    apps = []

    def fake_run(self, sockets=None):
        apps.append(self.config.app)
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    argv = ["serve", "--port", "0", "--models", str(lm_folder), "--prompt", PROMPT, "--labels", "good,bad",
            "--device", "cpu"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert apps[0].state.registry.ids() == ["bbc-cnn", "tiny-llama"]
    # the same models in an app of its own (the command's app stops with its server)
    app = create_app(models=_models(build_parser().parse_args(argv)))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/api/explain", json={"model": "tiny-llama", "text": TEXT, "target": "bad"})
    assert answer.status_code == 200, answer.text
    assert [w["text"] for w in answer.json()["words"]][:3] == ["the", "cat", "sat"]
    code, out, err = run_cli(capsys, "serve", "--port", "0", "--prompt", PROMPT, "--labels", "good", "--device", "cpu")
    assert code == 2 and "--prompt applies to the --models folders" in err
