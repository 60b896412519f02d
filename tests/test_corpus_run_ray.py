"""The Ray engine writes the records the local engine writes (a local Ray instance, 2 CPU actors)."""

import json

import pytest
import torch

from doclrp.corpus import explain_corpus, read_results
from doclrp.models import IdEncoder, TextCNN, TextPipeline, save_pipeline

ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data]: pip install 'doclrp[ray]'")
pytest.importorskip("ray.data", reason="the Ray engine needs ray[data]: pip install 'doclrp[ray]'")

# A Ray instance starts for the module (about 15 s on 2 cores) and the run takes as long again.
pytestmark = pytest.mark.slow

WORDS = "goal match team cup chip phone laptop vote party minister win code".split()
#: Replicas run one torch thread each, the local engine two: sums may round differently.
RTOL = 1e-5


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    if started:
        ray.shutdown()


def test_ray_engine_equals_local(tmp_path, local_ray):
    torch.manual_seed(0)
    encoder = IdEncoder.fit([" ".join(WORDS)], max_len=10)
    # A padding-sensitive CNN: equal records need the same batches in both engines.
    model = TextCNN(len(encoder.vocabulary), embed_dim=8, widths=(2, 3), channels=4, n_outputs=2)
    model_dir = save_pipeline(TextPipeline(model.eval(), encoder, ["sport", "tech"]), tmp_path / "model")
    rows = [{"id": f"d{i}", "text": " ".join(WORDS[(i * k) % 12] for k in range(2 + i % 17)), "label": "sport"}
            for i in range(30)]
    rows[3]["text"] = " "
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    local = explain_corpus(model_dir, corpus, tmp_path / "local.jsonl", batch_size=4, progress=False)
    # Small windows: several Ray Datasets in one run, results still in plan order.
    distributed = explain_corpus(model_dir, corpus, tmp_path / "ray.jsonl", batch_size=4, engine="ray",
                                 progress=False, ray_options={"window_docs": 12})
    expected_counts = (29, {"empty document": 1})
    assert (distributed.explained, distributed.skipped) == (local.explained, local.skipped) == expected_counts
    got, expected = list(read_results(tmp_path / "ray.jsonl")), list(read_results(tmp_path / "local.jsonl"))
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for a, b in zip(got, expected):
        if a["skipped"]:
            assert a == b
            continue
        numbers = ("words", "target_value", "delta", "prediction", "sentences")
        assert {k: v for k, v in a.items() if k not in numbers} == {k: v for k, v in b.items() if k not in numbers}
        assert [w[:3] for w in a["words"]] == [w[:3] for w in b["words"]]
        assert [w[3] for w in a["words"]] == pytest.approx([w[3] for w in b["words"]], rel=RTOL, abs=1e-6)
        assert a["prediction"]["values"] == pytest.approx(b["prediction"]["values"], rel=RTOL, abs=1e-6)
        assert a["prediction"]["label"] == b["prediction"]["label"]
    assert read_results(tmp_path / "ray.jsonl").header["model_sha256"] == \
           read_results(tmp_path / "local.jsonl").header["model_sha256"]


def test_ray_replicas_keep_the_time_budget(tmp_path, local_ray):
    # A budget no document can meet: every record is skipped with the reason, as on the local engine.
    torch.manual_seed(0)
    encoder = IdEncoder.fit([" ".join(WORDS)], max_len=10)
    model = TextCNN(len(encoder.vocabulary), embed_dim=8, widths=(2, 3), channels=4, n_outputs=2)
    model_dir = save_pipeline(TextPipeline(model.eval(), encoder, ["sport", "tech"]), tmp_path / "model")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": "goal match team"}) + "\n" for i in range(4)),
                      encoding="utf-8")
    report = explain_corpus(model_dir, corpus, tmp_path / "ray.jsonl", batch_size=2, engine="ray", progress=False,
                            doc_timeout=1e-9, on_error="skip")
    assert report.explained == 0
    reasons = [r["skipped"] for r in read_results(tmp_path / "ray.jsonl")]
    assert len(reasons) == 4 and all("took longer than doc_timeout" in r for r in reasons)
