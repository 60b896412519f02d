"""On CUDA doclrp gives what it gives on the CPU: the engine, the transformer composites, and the
whole text path from explain() to corpus records (skipped where there is no GPU)."""

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

import doclrp
import references
from references import batch, decoder_batch, tiny_decoder, tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

# the transformer families of the CPU tests, where transformers is installed
ENCODERS, DECODERS = ((references.FAMILIES, references.DECODERS) if importlib.util.find_spec("transformers")
                      else ([], {}))


def text_cnn():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(100, 16)
            self.convs = nn.ModuleList(nn.Conv1d(16, 8, w) for w in (3, 4, 5))
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveMaxPool1d(1)
            self.out = nn.Linear(24, 4)

        def forward(self, ids):
            e = self.embedding(ids).transpose(1, 2)
            return self.out(torch.cat([self.pool(self.relu(c(e))).squeeze(-1) for c in self.convs], 1))

    return Net().double()


def image_cnn():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 10))
    net[1].running_mean.uniform_(-0.1, 0.1)
    return net.double().eval()


@pytest.mark.parametrize("composite", ["epsilon", "epsilon-plus", "epsilon-gamma-box", "alpha2-beta1"])
def test_cuda_equals_cpu_for_text_and_image(composite):
    for net, inputs in ((text_cnn(), torch.randint(0, 100, (6, 30))),
                        (image_cnn(), torch.rand(5, 1, 8, 8, dtype=torch.float64))):
        # the pixels' range for z^B: a plain nn.Sequential declares none
        rules = doclrp.get_composite(composite, low=0.0, high=1.0) if composite == "epsilon-gamma-box" else composite
        cpu = doclrp.attribute(net, inputs, composite=rules)
        gpu = doclrp.attribute(net.cuda(), inputs.cuda(), composite=rules)
        assert gpu.relevance.device.type == "cuda"
        torch.testing.assert_close(gpu.relevance.cpu(), cpu.relevance, rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(gpu.delta.cpu(), cpu.delta, rtol=1e-7, atol=1e-9)


def test_cuda_float32_text_model_conserves_under_zero_rule():
    net = text_cnn().float().cuda()
    for conv in net.convs:
        conv.bias = None
    net.out.bias = None
    attr = doclrp.attribute(net, torch.randint(0, 100, (8, 40), device="cuda"), composite="zero")
    assert (attr.delta.abs() / attr.target_output.abs()).max() < 1e-4


@pytest.mark.parametrize("family", [*ENCODERS, *DECODERS])
@pytest.mark.parametrize("composite", ["cp-lrp", "attnlrp"])
def test_cuda_equals_cpu_for_transformers(family, composite):
    if family in DECODERS:
        model, (ids, kwargs) = tiny_decoder(family).double(), decoder_batch()
    else:
        model = tiny_model(family).double()
        ids, kwargs = batch(model)
    cpu = doclrp.attribute(model, ids, composite=composite, forward_kwargs=kwargs)
    gpu = doclrp.attribute(model.cuda(), ids.cuda(), composite=composite,
                           forward_kwargs={name: value.cuda() for name, value in kwargs.items()})
    assert gpu.relevance.device.type == "cuda"
    for ours, theirs in [(gpu.logits, cpu.logits), (gpu.relevance, cpu.relevance), (gpu.delta, cpu.delta),
                         *((gpu.other_relevance[name], value) for name, value in cpu.other_relevance.items())]:
        torch.testing.assert_close(ours.cpu(), theirs, rtol=1e-7, atol=1e-9)


def test_shipped_model_explains_and_runs_a_corpus_on_cuda(tmp_path):
    """The whole text path (windows, words, corpus records) on the GPU gives the CPU's words."""
    import json

    from doclrp.corpus import explain_corpus
    from doclrp import explain
    from doclrp.models.loading import load_model, pretrained_path

    texts = ["Shares in the bank fell sharply after profits missed forecasts. " * 30,
             "The striker scored twice as the home side won the cup final."]
    cpu = explain(load_model(pretrained_path(), device="cpu"), texts)
    gpu_pipeline = load_model(pretrained_path(), device="cuda")
    gpu = explain(gpu_pipeline, texts)
    for ours, theirs in zip(gpu, cpu):
        assert ours.target == theirs.target
        assert [w.text for w in ours.words] == [w.text for w in theirs.words]
        np.testing.assert_allclose([w.relevance for w in ours.words], [w.relevance for w in theirs.words],
                                   rtol=1e-3, atol=1e-5)
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    report = explain_corpus(gpu_pipeline, str(corpus), str(tmp_path / "out.jsonl"), progress=False)
    assert report.written == len(texts)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    # after the run's header line, in the order of the run's length batches
    records = sorted((line for line in lines if "id" in line), key=lambda r: int(r["id"]))
    assert [r["target"] for r in records] == [str(e.target) for e in cpu]
    np.testing.assert_allclose([r["target_value"] for r in records], [e.target_value for e in cpu], rtol=1e-4)


def test_cuda_equals_cpu_for_merge_layers_and_several_inputs():
    """Graph models (issue 25): sums, products, maxima, concatenations and two inputs, on CUDA as on the CPU."""
    from doclrp.core.merge import Concatenate, ElementwiseProduct, Extremum, WeightedSum
    from doclrp.models.graph import GraphModel, Step
    from doclrp.models.keras_modules import Permute

    torch.manual_seed(2)
    layers = {"embed": nn.Embedding(30, 6), "turn": Permute((2, 1)), "pool": nn.AdaptiveMaxPool1d(1),
              "flat": nn.Flatten(), "meta": nn.Linear(3, 6), "add": WeightedSum.add(2), "mul": ElementwiseProduct(),
              "max": Extremum("max"), "cat": Concatenate(-1), "out": nn.Linear(12, 3)}
    steps = [Step("embed", ("ids",), "e"), Step("turn", ("e",), "t"), Step("pool", ("t",), "p"),
             Step("flat", ("p",), "f"), Step("meta", ("x",), "m"), Step("add", ("f", "m"), "s"),
             Step("mul", ("s", "m"), "q"), Step("max", ("s", "q"), "r"), Step("cat", ("r", "m"), "c"),
             Step("out", ("c",), "y")]
    model = GraphModel(layers, steps, ["ids", "x"], ["y"]).double()
    ids, x = torch.randint(1, 30, (4, 9)), torch.randn(4, 3, dtype=torch.float64)
    for composite in ("epsilon", "alpha2-beta1"):
        cpu = doclrp.attribute(model, (ids, x), target=1, composite=composite)
        gpu = doclrp.attribute(model.cuda(), (ids.cuda(), x.cuda()), target=1, composite=composite)
        model.cpu()
        for a, b in zip(cpu.input_relevance, gpu.input_relevance):
            torch.testing.assert_close(b.cpu(), a, atol=1e-10, rtol=0)


def test_a_stop_takes_effect_on_cuda_in_forward_and_backward_passes():
    """doclrp.core.cancel on CUDA: the backward runs on autograd's device thread, where the
    saved-tensor hook still sees the token; afterwards the model is as it was."""
    from doclrp.core.cancel import Cancelled, CancelToken, cancellable

    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).cuda()
    inputs = torch.randn(4, 8, device="cuda")
    before = net(inputs).detach().clone()
    token = CancelToken()
    with cancellable(token):
        output = net(inputs.requires_grad_()).sum()
        token.cancel("stopped on the GPU")
        with pytest.raises(Cancelled, match="stopped on the GPU"):
            output.backward()
    with pytest.raises(Cancelled), cancellable(CancelToken(deadline=0.0)):
        doclrp.resolve_method("integrated-gradients", steps=1000).attribute(net, inputs.detach(), 0)
    assert torch.equal(net(inputs.detach()), before)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())
