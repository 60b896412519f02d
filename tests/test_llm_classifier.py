"""Causal language models as document classifiers (a prompt, label words): label scores equal the
model's own, relevance equals the decoder rules on the same network with the head cut to the
label rows, conservation, batch independence, every target form and method, windows, and bad
prompts and labels refused in one line. Tiny models of six families built from configs.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math  # noqa: E402

import numpy as np  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

transformers = pytest.importorskip("transformers")

import doclrp  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.models.hf.label_scores import PromptedClassifier  # noqa: E402
from doclrp.models.hf.prompted import PromptedLM  # noqa: E402
from references import (CAUSAL_LMS, COMPOSITES, CONSERVATION_TOLERANCE, WORDS, bpe_tokenizer,  # noqa: E402
                        tiny_causal_lm, word_tokenizer, zero_biases)

FAMILIES = list(CAUSAL_LMS)
PROMPT = "the {text} on"
LABELS = ["good", "bad", "fast"]          # one token each: scored by their logits
LONG_LABELS = ["good", "very bad", "not good"]  # several tokens: summed log-probabilities
TEXT = "the cat sat on the mat"
RULE_TOLERANCE = 1e-10   # float64: two runs of the same rules
SCORE_TOLERANCE = 1e-5   # float32: scores against transformers' own forward pass


def pipeline_for(family, labels=LABELS, dtype=torch.float32, prompt=PROMPT, **options):
    lm = tiny_causal_lm(family).to(dtype)
    return PromptedClassifier(lm, word_tokenizer("llama", max_length=64), prompt, labels, **options)


def direct_scores(pipeline, text, labels):
    """Label scores from transformers' forward pass of the whole string, one label at a time."""
    lm, tokenizer = pipeline.lm, pipeline.tokenizer
    ids = tokenizer(PROMPT.replace("{text}", text))["input_ids"]
    scores = []
    for label in labels:
        label_ids = [WORDS.index(word) for word in label.split()]
        with torch.no_grad():
            logits = lm(torch.tensor([ids + label_ids[:-1]])).logits[0].double()
        if len(max(labels, key=len).split()) == 1:
            scores.append(logits[-1, label_ids[0]])
        else:
            log_p = torch.log_softmax(logits, -1)
            scores.append(sum(log_p[len(ids) - 1 + j, t] for j, t in enumerate(label_ids)))
    return torch.stack(scores)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("labels", [LABELS, LONG_LABELS], ids=["one-token", "several-tokens"])
def test_label_scores_equal_the_language_model_own(family, labels):
    pipeline = pipeline_for(family, labels)
    texts = [TEXT, "dog ran", "the market fell very fast"]
    scores = pipeline.outputs(texts)   # one left-padded batch
    for text, row in zip(texts, scores):
        assert torch.allclose(row.double(), direct_scores(pipeline, text, labels), atol=SCORE_TOLERANCE, rtol=0)
    assert pipeline.predict(texts)[0].label in labels


def _sequence_classifier(pipeline):
    """The same network with its head cut to the label tokens' rows: a sequence classifier."""
    lm = pipeline.lm
    config = lm.config.__class__.from_dict({**lm.config.to_dict(), "num_labels": len(pipeline.labels)})
    classifier = transformers.AutoModelForSequenceClassification.from_config(config).to(lm.dtype).eval()
    missing, unexpected = classifier.load_state_dict(lm.state_dict(), strict=False)
    assert [key for key in missing if "score" not in key] == [] and unexpected in ([], ["lm_head.weight"])
    with torch.no_grad():
        classifier.score.weight.copy_(lm.get_output_embeddings().weight[pipeline.model.label_ids[:, 0]])
    return classifier


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("composite", COMPOSITES)
def test_relevance_equals_the_decoder_rules_with_the_head_cut_to_the_label_rows(family, composite):
    pipeline = pipeline_for(family, dtype=torch.float64)
    classifier = _sequence_classifier(pipeline)
    [(ids, _)] = pipeline.tokens([TEXT])
    inputs, kwargs, _, _ = pipeline.collate([ids])
    ours = doclrp.attribute(pipeline.model, inputs, target=1, composite=composite, forward_kwargs=kwargs)
    theirs = doclrp.attribute(classifier, inputs, target=1, composite=composite,
                              forward_kwargs={"attention_mask": kwargs["attention_mask"]})
    # Gemma 2 caps its logits, cap·tanh(z/cap): the identity rule hands the capped share down
    scale = ours.target_output / theirs.target_output
    if family != "gemma2":
        assert torch.allclose(ours.target_output, theirs.target_output, rtol=1e-12, atol=0)
    else:
        z = theirs.target_output
        assert torch.allclose(ours.target_output, 30.0 * torch.tanh(z / 30.0), rtol=1e-12, atol=0)
    # Gemma 2's attention takes its softmax in float32 even in a float64 model: scaling the gradient
    # by the cap's ratio then rounds differently there (AttnLRP's path through the scores)
    tolerance = 1e-7 if family == "gemma2" and composite == "attnlrp" else RULE_TOLERANCE
    assert torch.allclose(ours.relevance, theirs.relevance * scale, rtol=tolerance, atol=1e-14)
    assert {k.removeprefix("lm."): v for k, v in ours.other_relevance.items()}.keys() == theirs.other_relevance.keys()
    for name, value in theirs.other_relevance.items():
        assert torch.allclose(ours.other_relevance["lm." + name], value * scale, rtol=tolerance, atol=1e-14)


@pytest.mark.parametrize("family", FAMILIES)
def test_words_prompt_special_and_delta_make_the_explained_value_and_cp_lrp_conserves(family):
    pipeline = pipeline_for(family, dtype=torch.float64)
    zero_biases(pipeline.lm)
    explanation = doclrp.explain(pipeline, TEXT, target="bad", method="cp-lrp")
    words = sum(w.relevance for w in explanation.words)
    prompt = sum(p.relevance for p in explanation.prompt)
    assert [(p.text, p.before) for p in explanation.prompt] == [("the", True), ("on", False)]
    assert set(explanation.special) == {"<s>"} | ({"lm.transformer.wpe"} if family == "gpt2" else set())
    total = words + prompt + sum(explanation.special.values())
    assert total + explanation.delta == pytest.approx(explanation.target_value, abs=1e-12)
    assert explanation.total == pytest.approx(total, abs=1e-12)
    # no biases, CP-LRP: what the input received is the label's logit (capped ones included)
    assert abs(explanation.delta) <= CONSERVATION_TOLERANCE * abs(explanation.target_value)
    assert words != 0 and prompt != 0


@pytest.mark.parametrize("family", ["llama", "gemma2", "gpt2"])
def test_several_token_labels_share_the_logit_less_its_mean_and_the_entropy_shows_in_delta(family):
    pipeline = pipeline_for(family, LONG_LABELS, dtype=torch.float64)
    zero_biases(pipeline.lm)
    explanation = doclrp.explain(pipeline, TEXT, target="very bad", method="cp-lrp")
    assert explanation.target_value == pytest.approx(float(direct_scores(pipeline, TEXT, LONG_LABELS)[1]), abs=1e-10)
    # each label token's log p = z − logsumexp(z); its gradient shares out z − E_p[z]; −entropy is left
    ids = pipeline.tokenizer(PROMPT.replace("{text}", TEXT))["input_ids"]
    label = [WORDS.index("very"), WORDS.index("bad")]
    with torch.no_grad():
        logits = pipeline.lm(torch.tensor([ids + label[:1]])).logits[0, len(ids) - 1 :]  # capped (Gemma 2)
    p = torch.softmax(logits, -1)
    entropy = -(p * torch.log_softmax(logits, -1)).sum()
    assert explanation.delta == pytest.approx(-float(entropy), rel=1e-6)
    # the label's own first token ('very') took a share of the second's ('bad'), reported apart
    assert explanation.special["label_tokens"] != 0


@pytest.mark.parametrize("family", ["llama", "phi3", "gpt2"])
@pytest.mark.parametrize("labels", [LABELS, LONG_LABELS], ids=["one-token", "several-tokens"])
def test_a_document_is_explained_alike_alone_and_in_a_padded_batch(family, labels):
    pipeline = pipeline_for(family, labels, dtype=torch.float64)
    texts = ["dog ran", TEXT + " and the dog ran very fast", "the market fell"]
    target = f"{labels[1]}-vs-rest"
    together = doclrp.explain(pipeline, texts, target=target, batch_size=3)
    for text, explanation in zip(texts, together):
        alone = doclrp.explain(pipeline, text, target=target)
        assert explanation.relevance == pytest.approx(alone.relevance, abs=1e-10)
        assert [p.relevance for p in explanation.prompt] == pytest.approx([p.relevance for p in alone.prompt], abs=1e-10)
        assert explanation.target_value == pytest.approx(alone.target_value, abs=1e-10)


def test_every_target_form_is_a_combination_of_the_labels_relevance():
    pipeline = pipeline_for("qwen2", dtype=torch.float64)
    by_label = {label: doclrp.explain(pipeline, TEXT, target=label).relevance for label in LABELS}
    contrast = doclrp.explain(pipeline, TEXT, target="good-vs-rest")
    assert contrast.relevance == pytest.approx(by_label["good"] - (by_label["bad"] + by_label["fast"]) / 2, abs=1e-10)
    weighted = doclrp.explain(pipeline, TEXT, target={"bad": 2.0, "fast": -1.0})
    assert weighted.relevance == pytest.approx(2 * by_label["bad"] - by_label["fast"], abs=1e-10)
    predicted = doclrp.explain(pipeline, TEXT)
    assert str(predicted.target) == predicted.prediction.label
    assert doclrp.explain(pipeline, TEXT, target=2).relevance == pytest.approx(by_label["fast"], abs=1e-12)


@pytest.mark.parametrize("method", ["gradient-x-input", "saliency", "integrated-gradients", "occlusion", "random",
                                    "attnlrp", "cp-lrp"])
def test_every_method_explains_a_prompted_label(method):
    pipeline = pipeline_for("llama", LONG_LABELS)
    explanation = doclrp.explain(pipeline, TEXT, target="not good", method=method)
    assert len(explanation.words) == 6 and all(math.isfinite(w.relevance) for w in explanation.words)
    assert explanation.method["name"] == method
    assert pipeline.default_composite == "attnlrp"


def test_gradient_x_input_is_the_plain_gradient_of_the_label_score():
    pipeline = pipeline_for("gemma2", dtype=torch.float64)  # soft-capped: the plain gradient of tanh here
    [(ids, _)] = pipeline.tokens([TEXT])
    inputs, kwargs, positions, _ = pipeline.collate([ids])
    embeddings = pipeline.lm.get_input_embeddings()(inputs).detach().requires_grad_(True)
    logits = pipeline.lm(inputs_embeds=embeddings, **kwargs).logits[0, -1]
    (gradient,) = torch.autograd.grad(logits[WORDS.index("bad")], embeddings)
    expected = (gradient * embeddings).sum(-1)[0, positions[0]]
    explanation = doclrp.explain(pipeline, TEXT, target="bad", method="gradient-x-input")
    assert explanation.relevance == pytest.approx(expected.detach().numpy(), abs=1e-12)


def test_long_documents_are_windowed_inside_the_prompt():
    lm = tiny_causal_lm("llama", positions=12)
    pipeline = PromptedClassifier(lm.double(), word_tokenizer("llama", max_length=64), PROMPT, LABELS)
    assert pipeline.max_tokens == 12 - 3  # <s>, 'the' and 'on' take three places
    text = "the cat sat on the mat and the dog ran very fast , the team won the cup"
    explanation = doclrp.explain(pipeline, text, target="good", overlap=2)
    assert len(explanation.words) == 18 and all(w.relevance != 0 for w in explanation.words)
    total = (sum(w.relevance for w in explanation.words) + sum(p.relevance for p in explanation.prompt)
             + sum(explanation.special.values()))
    assert total + explanation.delta == pytest.approx(explanation.target_value, abs=1e-10)
    windows = doclrp._explain.document_outputs(pipeline, [text], overlap=2)
    assert explanation.target_value == pytest.approx(float(windows[0, 0]), abs=1e-10)


def test_several_token_labels_leave_room_for_their_tokens_in_the_context():
    lm = tiny_causal_lm("llama", positions=12)
    pipeline = PromptedClassifier(lm, word_tokenizer("llama", max_length=64), PROMPT, LONG_LABELS)
    assert pipeline.max_tokens == 12 - 3 - 1  # 'very' of 'very bad' is read before 'bad'
    with pytest.raises(DoclrpError, match=r"the prompt takes 12 tokens of the model's 12: no room is left"):
        PromptedClassifier(lm, word_tokenizer("llama", max_length=64), "the " * 10 + "{text} on", LABELS).max_tokens


def test_byte_level_tokenizers_put_labels_after_the_prompt_with_a_space():
    tokenizer = bpe_tokenizer("byte-level", max_length=64, texts=["Topic: sports business cup final shares"])
    lm = tiny_causal_lm("gpt2", vocab=len(tokenizer))
    pipeline = PromptedClassifier(lm, tokenizer, "Article: {text}\nTopic:", ["sports", "business"])
    pieces = [tokenizer.convert_ids_to_tokens(ids) for ids in pipeline.model.label_ids.tolist()]
    assert all(piece[0].startswith("Ġ") for piece in pieces)   # ' sports', not 'sports'
    explanation = doclrp.explain(pipeline, "The striker scored in the cup final.")
    assert [w.text for w in explanation.words][:3] == ["The", "striker", "scored"]
    assert [p.text for p in explanation.prompt] == ["Article:", "Topic:"]


def test_a_chat_template_holds_the_prompt_when_asked():
    tokenizer = word_tokenizer("llama", max_length=64)
    tokenizer.chat_template = ("{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }}{% endfor %}"
                               "{% if add_generation_prompt %} the{% endif %}")
    lm = tiny_causal_lm("llama")
    pipeline = PromptedClassifier(lm, tokenizer, "{text} on", LABELS, chat=True)
    explanation = doclrp.explain(pipeline, TEXT)
    # the template writes its start token itself: it is part of the prompt, none is added
    assert [p.text for p in explanation.prompt] == ["<s>", "user", ":", "on", "the"]
    assert "<s>" not in explanation.special
    with pytest.raises(DoclrpError, match="--chat: the model's tokenizer has no chat template"):
        PromptedClassifier(lm, word_tokenizer("llama", max_length=64), "{text}", LABELS, chat=True)


def test_bad_prompts_and_labels_are_refused_in_one_line():
    from tokenizers import normalizers

    lm = tiny_causal_lm("llama")
    tokenizer = word_tokenizer("llama", max_length=64)
    with pytest.raises(DoclrpError, match=r"must hold \{text\} once, where the document goes; it holds it 0 times"):
        PromptedClassifier(lm, tokenizer, "Topic:", LABELS)
    with pytest.raises(DoclrpError, match="it holds it 2 times"):
        PromptedClassifier(lm, tokenizer, "{text} {text}", LABELS)
    with pytest.raises(DoclrpError, match=r"labels 'good' and 'Good' tokenize to the same tokens \['good'\]"):
        PromptedClassifier(lm, tokenizer, PROMPT, ["good", "Good"])
    with pytest.raises(DoclrpError, match="label ' ' is empty"):
        PromptedClassifier(lm, tokenizer, PROMPT, ["good", " "])
    with pytest.raises(DoclrpError, match="give at least one label"):
        PromptedClassifier(lm, tokenizer, PROMPT, [])
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence([normalizers.Lowercase(),
                                                                   normalizers.Replace("#", "")])
    with pytest.raises(DoclrpError, match="label '###' tokenizes to nothing"):
        PromptedClassifier(lm, tokenizer, PROMPT, ["good", "###"])
    for error in (DoclrpError("x"),):
        assert "\n" not in str(error)


def _save(tmp_path, family="llama", tokenizer=None):
    folder = tmp_path / family
    tiny_causal_lm(family).save_pretrained(folder)
    (tokenizer or word_tokenizer("llama", max_length=64)).save_pretrained(folder)
    return folder


def test_load_model_reads_a_language_model_folder_with_a_prompt_and_labels(tmp_path):
    folder = _save(tmp_path)
    pipeline = doclrp.load_model(folder, prompt=PROMPT, labels=LABELS)
    assert isinstance(pipeline, PromptedClassifier) and pipeline.labels == LABELS
    direct = PromptedClassifier(tiny_causal_lm("llama"), word_tokenizer("llama", max_length=64), PROMPT, LABELS)
    assert torch.allclose(pipeline.outputs([TEXT]), direct.outputs([TEXT]), atol=1e-6)
    with pytest.raises(DoclrpError, match="names its own outputs: labels are given for a Keras or ONNX model file, "
                                          "or with a prompt"):
        doclrp.load_model(folder, labels=LABELS)
    with pytest.raises(DoclrpError, match="a language model as a classifier needs labels"):
        doclrp.load_model(folder, prompt=PROMPT)
    config = transformers.AutoConfig.for_model("distilbert", vocab_size=len(WORDS), dim=16, n_layers=1, n_heads=2,
                                               hidden_dim=32)
    other = tmp_path / "distilbert"
    transformers.AutoModelForSequenceClassification.from_config(config).save_pretrained(other)
    word_tokenizer("bert").save_pretrained(other)
    with pytest.raises(DoclrpError, match="holds a distilbert model, which transformers has no language model head"):
        doclrp.load_model(other, prompt=PROMPT, labels=LABELS)


def test_a_folder_with_code_is_refused_with_a_prompt_too(tmp_path):
    import json

    folder = _save(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(DoclrpError, match=r"asks for custom code \(modeling_evil.py via auto_map\)"):
        doclrp.load_model(folder, prompt=PROMPT, labels=LABELS)


@pytest.mark.parametrize("mode", ["deletion", "replacement"])
def test_deletion_curves_run_on_the_document_tokens_inside_the_prompt(mode):
    from doclrp.evaluate.perturbation import perturbation_curves

    pipeline = pipeline_for("llama", dtype=torch.float64)
    explanation = doclrp.explain(pipeline, TEXT, target="bad")
    curves = perturbation_curves(pipeline, [explanation], direction="morf", mode=mode)
    assert curves.shape == (1, 11) and bool(torch.isfinite(torch.as_tensor(curves)).all())
    assert float(curves[0, 0]) == pytest.approx(explanation.target_value, abs=1e-10)   # as written
    # every word gone: the prompt alone (deletion), or the stand-in tokens (replacement)
    empty = [] if mode == "deletion" else [pipeline.tokenizer.unk_token_id] * 6
    inputs, kwargs, _, _ = pipeline.collate([empty])
    with torch.no_grad():
        alone = pipeline.model(inputs, **kwargs)
    assert float(curves[0, -1]) == pytest.approx(float(alone[0, 1]), abs=1e-10)


def test_the_prompt_words_survive_json_and_are_left_out_of_other_models_dicts():
    from doclrp.text import Explanation

    explanation = doclrp.explain(pipeline_for("llama"), TEXT)
    data = explanation.to_dict()
    assert [p["text"] for p in data["prompt"]] == ["the", "on"]
    assert Explanation.from_dict(data) == explanation and Explanation.from_dict(data).prompt == explanation.prompt
    assert "prompt" not in doclrp.explain(doclrp.load_model(doclrp.pretrained_path()), "Shares rose.").to_dict()


def test_a_label_prefix_goes_before_each_label():
    tokenizer = bpe_tokenizer("byte-level", max_length=64, texts=["Topic: sports business", "Topic:sports"])
    lm = tiny_causal_lm("gpt2", vocab=len(tokenizer))
    spaced = PromptedClassifier(lm, tokenizer, "{text} Topic:", ["sports", "business"])
    tight = PromptedClassifier(lm, tokenizer, "{text} Topic:", ["sports", "business"], label_prefix="")
    assert tokenizer.convert_ids_to_tokens(spaced.model.label_ids[0, :1].tolist())[0].startswith("Ġ")
    assert not tokenizer.convert_ids_to_tokens(tight.model.label_ids[0, :1].tolist())[0].startswith("Ġ")


@pytest.mark.parametrize("labels", [LABELS, LONG_LABELS], ids=["one-token", "several-tokens"])
def test_bfloat16_language_models_are_explained_like_float32_ones(labels):
    full = doclrp.explain(pipeline_for("llama", labels), TEXT, target=labels[1])
    half = doclrp.explain(pipeline_for("llama", labels, dtype=torch.bfloat16), TEXT, target=labels[1])
    # bfloat16 keeps 8 bits of mantissa: the relevance follows the float32 one to a few percent
    error = np.linalg.norm(half.relevance - full.relevance) / np.linalg.norm(full.relevance)
    assert error < 0.05, error
    written = doclrp.explain_generation(PromptedLM(tiny_causal_lm("llama").to(torch.bfloat16),
                                                   word_tokenizer("llama", max_length=64), PROMPT), TEXT,
                                        continuation="dog ran")
    assert all(math.isfinite(v) for t in written.generated for v in t.words)


def test_a_pipeline_pickles_as_ray_ships_it_to_its_workers():
    import pickle

    pipeline = pipeline_for("gpt2")
    copy = pickle.loads(pickle.dumps(pipeline))
    ours, theirs = doclrp.explain(pipeline, TEXT), doclrp.explain(copy, TEXT)
    assert ours.relevance.tolist() == theirs.relevance.tolist() and ours.prompt == theirs.prompt
