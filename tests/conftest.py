"""Fixtures shared by the test modules: a tiny topic corpus and the model trained on it, and
the written-out attention registered with transformers. Plain helpers and the slow
references live in ``references.py``.

Run everything with ``pytest``; ``pytest -m "not slow"`` leaves out the tests marked slow.
"""

import os
import sys

import pytest

from doclrp.training import train
from references import COMPOSITES, attention_by_the_rules

# Keras (the Keras importer's tests, a README snippet) imports absl, whose logging handler keeps
# the sys.stderr of the moment and closes it when the serve tests' uvicorn reconfigures logging:
# that stream is pytest's capture file, and every later test would break. Imported here first,
# with the real stderr (never closed), absl holds no capture file whatever runs first.
_captured_stderr, sys.stderr = sys.stderr, sys.__stderr__
try:
    import absl.logging  # noqa: F401
except ImportError:  # keras is a test extra; without it there is nothing to guard
    pass
finally:
    sys.stderr = _captured_stderr

TOPIC_TEXTS = {
    "sport": ["the match ended with a late goal", "the team won the cup final", "a goal in the last minute"],
    "tech": ["the new phone has a faster chip", "software update for the laptop", "the chip maker shows a phone"],
}


@pytest.fixture(scope="module")
def topic_corpus_dir(tmp_path_factory):
    """A folder corpus, one sub-folder per label (sport, tech), twelve files each."""
    folder = tmp_path_factory.mktemp("corpus")
    for label, texts in TOPIC_TEXTS.items():
        (folder / label).mkdir()
        for i, text in enumerate(texts * 4):
            (folder / label / f"{i:03d}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def topic_model_dir(tmp_path_factory, topic_corpus_dir):
    """A tiny embedding-bag model trained on ``topic_corpus_dir``, saved to a folder."""
    out = tmp_path_factory.mktemp("model") / "tiny"
    train(str(topic_corpus_dir), model="bag", out=out, epochs=3, progress=False, min_freq=1,
          model_options={"embed_dim": 8})
    return out


@pytest.fixture
def reference_attention():
    # The reference is swapped in through transformers' attention registry, which the BERT
    # family uses in transformers 5; older versions have no place to put it.
    masking = pytest.importorskip("transformers.masking_utils", reason="needs the attention registry of transformers 5")
    from transformers import AttentionInterface

    AttentionMaskInterface, eager_mask = masking.AttentionMaskInterface, masking.eager_mask

    names = []
    for rule in COMPOSITES:
        name = f"doclrp_test_{rule}"
        AttentionInterface.register(name, attention_by_the_rules(rule))
        AttentionMaskInterface.register(name, eager_mask)
        names.append(name)
    yield dict(zip(COMPOSITES, names))
    for name in names:
        AttentionInterface._global_mapping.pop(name, None)
        AttentionMaskInterface._global_mapping.pop(name, None)


@pytest.fixture
def failing_folder_swap(monkeypatch):
    """Make the atomic folder swap fail at its last step: the staging folder moving into place."""
    real_replace = os.replace

    def replace(src, dst):
        if str(src).endswith(".partial"):
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr("doclrp._atomic.os.replace", replace)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The documentation site, built once per run as `make docs` builds it (strict: a warning fails)."""
    from doc_blocks import build_site

    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright, one for the whole run (modules skip first when absent)."""
    from playwright import sync_api

    from references import CHROMIUM, CHROMIUM_ARGS

    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
