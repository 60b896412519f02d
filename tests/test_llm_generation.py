"""Each token a language model writes after a document, explained: greedy decoding as transformers'
own, per-token relevance equal to the rules run on the whole sequence (without the cache),
conservation, given continuations, the methods and bounds; the command line's --generate with
JSON and a page."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("transformers")

import doclrp  # noqa: E402
from doclrp._generate import MAX_GENERATE, explain_generation  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.models.hf.label_scores import LabelScores  # noqa: E402
from doclrp.models.hf.prompted import PromptedLM  # noqa: E402
from doclrp.text.generation import GenerationExplanation  # noqa: E402
from references import (CAUSAL_LMS, COMPOSITES, CONSERVATION_TOLERANCE, run_cli, tiny_causal_lm,  # noqa: E402
                        word_tokenizer, zero_biases)

PROMPT = "the {text} on"
TEXT = "the cat sat on the mat"
N = 4


def language_model(family, dtype=torch.float64, **extra):
    return PromptedLM(tiny_causal_lm(family, **extra).to(dtype), word_tokenizer("llama", max_length=64), PROMPT)


@pytest.mark.parametrize("family", list(CAUSAL_LMS))
def test_greedy_tokens_are_the_ones_transformers_generates(family):
    lm = language_model(family, torch.float32)
    result = explain_generation(lm, TEXT, max_new_tokens=N)
    ids = lm.tokenizer(PROMPT.replace("{text}", TEXT))["input_ids"]
    expected = lm.lm.generate(torch.tensor([ids]), max_new_tokens=N, do_sample=False, pad_token_id=0)[0, len(ids):]
    assert [t.id for t in result.generated] == expected.tolist()
    assert result.greedy and len(result.generated) == N and result.continuation.strip()


@pytest.mark.parametrize("family", list(CAUSAL_LMS))
@pytest.mark.parametrize("composite", COMPOSITES)
def test_each_token_is_explained_as_the_rules_explain_the_whole_sequence(family, composite):
    # with the cache, one graph, one backward pass per token == the next-token logit of the whole
    # sequence (prompt, document, earlier tokens) explained as a one-label score, without the cache
    lm = language_model(family)
    result = explain_generation(lm, TEXT, max_new_tokens=N, method=composite)
    [(ids, _)] = lm.tokens([TEXT])
    inputs, kwargs, [columns], _ = lm.collate_rows([ids])
    head = len(inputs[0])
    written = [t.id for t in result.generated]
    for step, token in enumerate(result.generated):
        sequence = torch.cat([inputs, torch.tensor([written[:step]], dtype=torch.long)], 1)
        scores = LabelScores(lm.lm, [[token.id]], lm.softcap).eval()
        reference = doclrp.attribute(scores, sequence, target=0, composite=composite)
        assert token.value == pytest.approx(float(reference.target_output), abs=1e-10)
        relevance = reference.relevance[0].double().numpy()
        document = relevance[columns]
        assert sum(token.words) + token.special.get("unassigned", 0.0) == pytest.approx(document.sum(), abs=1e-10)
        assert token.previous == pytest.approx(relevance[head:].tolist(), abs=1e-10)
        assert token.delta == pytest.approx(float(reference.delta), abs=1e-10)
        if step == 0:   # the words one by one (word-level tokens: one per word)
            assert token.words == pytest.approx(document.tolist(), abs=1e-10)


@pytest.mark.parametrize("family", ["llama", "gemma2", "gpt2"])
def test_every_token_adds_up_and_cp_lrp_conserves_without_biases(family):
    lm = language_model(family)
    zero_biases(lm.lm)
    result = explain_generation(lm, TEXT, max_new_tokens=N, method="cp-lrp")
    for step, token in enumerate(result.generated):
        assert len(token.previous) == step and len(token.prompt) == 2 and len(token.words) == 6
        assert token.total + token.delta == pytest.approx(token.value, abs=1e-12)
        assert abs(token.delta) <= CONSERVATION_TOLERANCE * abs(token.value)
    assert result.span(0, N) == pytest.approx([w.relevance for w in result.words])


def test_a_given_continuation_is_explained_token_by_token():
    lm = language_model("qwen2")
    result = explain_generation(lm, TEXT, continuation="the dog ran")
    assert [t.token for t in result.generated] == ["the", " dog", " ran"] and not result.greedy
    assert result.continuation == "the dog ran"
    assert [t.id for t in result.generated] == lm.tokenizer("the dog ran", add_special_tokens=False)["input_ids"]


def test_gradient_x_input_is_the_plain_gradient_and_other_methods_are_refused():
    lm = language_model("llama")
    result = explain_generation(lm, TEXT, continuation="dog", method="gradient-x-input")
    [(ids, _)] = lm.tokens([TEXT])
    inputs, kwargs, [columns], _ = lm.collate_rows([ids])
    embeddings = lm.lm.get_input_embeddings()(inputs).detach().requires_grad_(True)
    logit = lm.lm(inputs_embeds=embeddings).logits[0, -1, result.generated[0].id]
    (gradient,) = torch.autograd.grad(logit, embeddings)
    assert result.generated[0].words == pytest.approx((gradient * embeddings).sum(-1)[0, columns].tolist(), abs=1e-12)
    with pytest.raises(DoclrpError, match="an LRP composite .* or gradient-x-input, not integrated-gradients"):
        explain_generation(lm, TEXT, max_new_tokens=2, method="integrated-gradients")


def test_bounds_are_one_line():
    lm = language_model("llama", positions=12)
    with pytest.raises(DoclrpError, match=f"tokens to generate must be 1 to {MAX_GENERATE}, got 0"):
        explain_generation(lm, TEXT, max_new_tokens=0)
    with pytest.raises(DoclrpError, match=f"must be 1 to {MAX_GENERATE}, got {MAX_GENERATE + 1}"):
        explain_generation(lm, TEXT, max_new_tokens=MAX_GENERATE + 1)
    with pytest.raises(DoclrpError, match=r"take 9 tokens of the model's 12: 5 more to write do not fit"):
        explain_generation(lm, TEXT, max_new_tokens=5)
    assert len(explain_generation(lm, TEXT, max_new_tokens=4).generated) == 4   # 9 + 3 read: fits
    with pytest.raises(DoclrpError, match="tokenizes to nothing"):
        explain_generation(lm, TEXT, continuation="")
    with pytest.raises(DoclrpError, match="is empty"):
        explain_generation(lm, "  ", max_new_tokens=1)
    with pytest.raises(DoclrpError, match="needs a prompt"):
        explain_generation("some/folder", TEXT)


def test_the_explanation_is_json_and_back():
    result = explain_generation(language_model("gpt2"), TEXT, max_new_tokens=2)
    data = json.loads(json.dumps(result.to_dict()))
    assert [set(t) >= {"token", "words", "previous"} for t in data["generated"]] == [True, True]
    assert GenerationExplanation.from_dict(data) == result


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm") / "tiny-gpt2"
    tiny_causal_lm("gpt2").save_pretrained(folder)
    word_tokenizer("llama", max_length=64).save_pretrained(folder)
    return folder


def test_the_command_line_writes_json_or_a_page(lm_folder, tmp_path, capsys):
    out, page = tmp_path / "g.json", tmp_path / "g.html"
    for target in (out, page):
        code, printed, err = run_cli(capsys, "explain", "--model", str(lm_folder), "--prompt", PROMPT, "--text", TEXT,
                                     "--generate", "3", "--out", str(target), "--device", "cpu")
        assert code == 0, err
        assert "continuation:" in printed and printed.count("(logit") == 3 and f"wrote {target}" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["generated"]) == 3 and len(data["generated"][2]["words"]) == 6
    assert len(data["generated"][2]["previous"]) == 2
    assert 'class="tok"' in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, message", [
    (["--generate", "3"], "--generate and --continuation need --prompt"),
    (["--prompt", PROMPT, "--generate", "3", "--labels", "good,bad"], "--labels score a classifier's labels"),
    (["--prompt", PROMPT, "--generate", str(MAX_GENERATE + 1)], f"--generate takes at most {MAX_GENERATE} tokens"),
    (["--prompt", PROMPT, "--generate", "2", "--method", "occlusion"], "not occlusion"),
    (["--prompt", PROMPT, "--generate", "2", "--target", "good"], "--target and --reference do not apply"),
])
def test_command_line_mistakes_are_one_line(lm_folder, capsys, argv, message):
    code, printed, err = run_cli(capsys, "explain", "--model", str(lm_folder), "--text", TEXT, "--device", "cpu",
                                 *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
