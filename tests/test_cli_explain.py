"""`doclrp explain` end to end on a tiny saved model, and every bad input: one line, exit 2, no file."""

import re
from html.parser import HTMLParser

import pytest

from doclrp.cli import main
from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline, save_pipeline
from references import run_cli


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_explain_writes_page_and_prints_top_words(topic_model_dir, tmp_path, capsys):
    page = tmp_path / "page.html"
    code, out, err = run_cli(capsys, "explain", "--model", str(topic_model_dir),
                             "--text", "a late goal <script>alert(1)</script>", "--out", str(page))
    assert code == 0, err
    assert "top words" in out and "goal" in out
    html = page.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags and "&lt;script&gt;" in html


def test_explain_contrast_target(topic_model_dir, tmp_path, capsys):
    code, out, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "a new phone chip",
                             "--target", "tech-vs-rest", "--out", str(tmp_path / "p.html"))
    assert code == 0, err
    assert "tech-vs-rest" in out


def write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", ["empty", "whitespace", "unknown", "not-utf8", "bad-label", "no-model",
                                  "corrupt-model", "missing-file", "out-is-folder"])
def test_bad_input_one_line_exit_2_nothing_written(case, topic_model_dir, tmp_path, capsys):
    page = tmp_path / "page.html"
    model = str(topic_model_dir)
    source = ["--text", "a late goal"]
    target = []
    if case == "empty":
        source = ["--text", ""]
    elif case == "whitespace":
        source = ["--text", "  \n\t "]
    elif case == "unknown":
        source = ["--text", "zzzq xxyv"]
    elif case == "not-utf8":
        source = ["--file", str(write_bytes(tmp_path / "latin1.txt", "caf\xe9 goal".encode("latin-1")))]
    elif case == "bad-label":
        target = ["--target", "weather"]
    elif case == "no-model":
        model = str(tmp_path / "nowhere")
    elif case == "corrupt-model":
        broken = tmp_path / "broken"
        broken.mkdir()
        for item in topic_model_dir.iterdir():
            (broken / item.name).write_bytes(item.read_bytes())
        weights = broken / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:50])
        model = str(broken)
    elif case == "missing-file":
        source = ["--file", str(tmp_path / "absent.txt")]
    elif case == "out-is-folder":
        page = tmp_path
    code, out, err = run_cli(capsys, "explain", "--model", model, *source, *target, "--out", str(page))
    assert code == 2
    assert err.startswith("doclrp: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    if case != "out-is-folder":
        assert not page.exists()
    assert not list(tmp_path.glob(".page.html.tmp*"))


def test_help_texts(capsys):
    for command in ([], ["demo"], ["train"], ["explain"], ["corpus"], ["evaluate"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: doclrp" in capsys.readouterr().out


def test_explain_without_out_prints_prediction_and_top_words(topic_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "a late goal", "--top", "2")
    assert code == 0, err
    device, prediction, top = out.splitlines()
    assert re.fullmatch(r"prediction: (sport|tech) \(p 0\.\d{3}\)", prediction), prediction
    assert "top words: " in top and "goal" in top
    assert list(tmp_path.iterdir()) == []  # no page without --out


def test_explain_names_regression_outputs(tmp_path, capsys):
    import torch

    torch.manual_seed(0)
    encoder = IdEncoder.fit(["good film", "bad film"])
    model = EmbeddingBagModel(len(encoder.vocabulary), 4, 2)
    folder = save_pipeline(TextPipeline(model, encoder, ["compound", "pos"], "regression"), tmp_path / "reg")
    code, out, err = run_cli(capsys, "explain", "--model", str(folder), "--text", "a good film",
                             "--target", "compound", "--out", str(tmp_path / "p.html"))
    assert code == 0, err
    prediction = out.splitlines()[1]
    assert re.fullmatch(r"prediction: compound [+-]\d\.\d{3}, pos [+-]\d\.\d{3}", prediction), prediction


def test_a_mistyped_option_gets_its_commands_usage_and_a_suggestion(topic_model_dir, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["explain", "--model", str(topic_model_dir), "--text", "a goal", "--targte", "sport"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.startswith("usage: doclrp explain")
    assert "unrecognized arguments: --targte sport (did you mean --target?)" in err
    with pytest.raises(SystemExit):
        main(["corpus", "summarize", "r.jsonl", "--out", "x", "--min-dff", "1"])
    err = capsys.readouterr().err
    assert err.startswith("usage: doclrp corpus summarize") and "(did you mean --min-df?)" in err


def test_a_wrong_target_label_gets_a_suggestion_and_one_text_is_the_document(topic_model_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "a goal", "--target", "sprot")
    assert code == 2 and "unknown target 'sprot' (did you mean 'sport'?)" in err
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "zebra quokka")
    assert code == 2 and "error: the document has only words the model does not know" in err, err


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "epsilno"], "did you mean 'epsilon'"),
    (["--method", "integrated-gradients", "--param", "steps=0"], "takes 1 to 1024"),
    (["--param", "eps=0.1"], "--param needs --method"),
])
def test_method_and_params_are_checked_before_the_model_loads(argv, fragment, topic_model_dir, capsys, monkeypatch):
    monkeypatch.setattr("doclrp.cli.explain.load_model", lambda *a, **k: pytest.fail("the model loaded first"))
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "a goal", *argv)
    assert code == 2 and fragment in err and err.count("\n") == 1
