"""Long commands say at once what they are about to do and how much, then show progress with an
estimate before their first result (issue 16): run as a user runs them, output to a pipe."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from doclrp._progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def run_doclrp(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # stderr into stdout: the order of start line, progress and results is what a user sees
    return subprocess.run([sys.executable, "-m", "doclrp.cli", *map(str, args)], capture_output=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_progress_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress(10, "training", unit="batch", stream=out, terminal=False, every=3600,
                  note="at most") as progress:
        for _ in range(10):
            progress.update()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("training: 1/10 batch (10%)") and "left (at most)" in lines[0]
    assert lines[-1].startswith("training: 10 batch in ")
    assert len(lines) == 2  # one line at the first step, one at the end; none between (every=3600)
    silent = io.StringIO()
    with Progress(3, "x", stream=silent, terminal=False, enabled=False) as progress:
        progress.update(3)
    assert silent.getvalue() == ""


@pytest.mark.slow
def test_train_says_what_it_does_and_shows_progress_before_the_result(topic_corpus_dir, tmp_path):
    done = run_doclrp("train", "--model", "bag", "--corpus", topic_corpus_dir, "--epochs", "2", "--out",
                      tmp_path / "m")
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "device: cpu"
    start = next(i for i, line in enumerate(lines) if line.startswith("training bag"))
    assert "up to 2 epochs of" in lines[start] and "device cpu" in lines[start] and "documents" in lines[start]
    bar = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/2: 1/"))
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/2: train loss"))
    result = next(i for i, line in enumerate(lines) if line.startswith("saved "))
    assert start < bar < first_epoch < result
    assert "left" in lines[bar] and "elapsed" in lines[first_epoch] and "at most" in lines[first_epoch]


@pytest.mark.slow
def test_regression_epochs_print_r2(tmp_path):
    corpus = tmp_path / "scores.jsonl"
    rows = [{"id": str(i), "text": ("good " * (i % 4)) + "film " + ("bad " * (3 - i % 4)), "score": i % 4}
            for i in range(40)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    done = run_doclrp("train", "--model", "bag", "--corpus", corpus, "--task", "regression", "--target-column",
                      "score", "--epochs", "2", "--out", tmp_path / "m")
    assert done.returncode == 0, done.stdout
    epoch = next(line for line in done.stdout.splitlines() if line.startswith("epoch 1/2: train loss"))
    assert "r2 score " in epoch, epoch


@pytest.mark.slow
def test_corpus_says_what_it_does_and_shows_progress_before_the_result(topic_model_dir, topic_corpus_dir, tmp_path):
    done = run_doclrp("corpus", "--model", topic_model_dir, "--input", topic_corpus_dir, "--out",
                      tmp_path / "r.jsonl")
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "device: cpu"
    start = next(i for i, line in enumerate(lines) if line.startswith("explaining 24 documents"))
    bar = next(i for i, line in enumerate(lines) if line.startswith("explaining: ") and "/24 doc" in line)
    result = next(i for i, line in enumerate(lines) if "explained" in line and i > bar)
    assert start < bar < result
