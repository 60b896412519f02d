"""The registries (doclrp/registry.py): entry points loaded on first use, names listed without
imports, did-you-mean, run-time additions, and a loud error where the installed metadata lacks them."""

import subprocess
import sys

import pytest

from doclrp.errors import DoclrpError
from doclrp.registry import Group, Registry, UnknownName, registered_names


def _groups() -> list[str]:
    return [value for name, value in vars(Group).items() if name.isupper()]


@pytest.mark.parametrize("group", _groups())
def test_every_declared_entry_loads(group):
    registry = Registry[object]("thing", group)
    assert registry.names() == registered_names(group) and registry.names()
    for name in registry:
        assert registry[name] is not None


def test_the_registries_hold_what_the_package_declares():
    from doclrp.core import BASELINES, COMPOSITES, get_composite
    from doclrp.core.linear import DENSE_ADAPTERS
    from doclrp.corpus.registry import SOURCES, TARGET_CHECKS
    from doclrp.models.hf.composites import attnlrp
    from doclrp.models.hf.layouts import CONV1D
    from doclrp.text.explanation import RENDERERS

    assert COMPOSITES["attnlrp"] is attnlrp and get_composite("epsilon-plus").name == "epsilon-plus"
    assert {"zero", "epsilon", "cp-lrp"} <= set(COMPOSITES)
    assert BASELINES["occlusion"].name == "occlusion"
    assert DENSE_ADAPTERS["transformers.pytorch_utils.Conv1D"] is CONV1D
    assert list(SOURCES) == ["bbc", "vader", "vader-rt"]
    assert TARGET_CHECKS["vader-lexicon"].target == "compound"
    assert callable(RENDERERS["notebook-explanation"])


def test_unknown_names_suggest_and_list():
    from doclrp.core import COMPOSITES, get_composite

    with pytest.raises(UnknownName, match=r"unknown composite 'epsilno' \(did you mean 'epsilon'\?\); choose one of: "):
        get_composite("epsilno")
    with pytest.raises(KeyError):  # a registry is a mapping
        COMPOSITES["nope"]
    assert COMPOSITES.get("nope") is None


def test_additions_come_after_the_declared_and_can_be_removed():
    registry = Registry[int]("number", Group.CORPUS_SOURCES)
    registry.add("zzz-mine", 1)
    registry.add("aaa-mine", 2)
    assert registry.names() == ["bbc", "vader", "vader-rt", "zzz-mine", "aaa-mine"]
    del registry["aaa-mine"]
    del registry["vader"]
    assert registry.names() == ["bbc", "vader-rt", "zzz-mine"] and "vader" not in registry
    with pytest.raises(DoclrpError, match="non-empty str"):
        registry.add("", 3)


def test_an_installation_without_the_entry_points_fails_loudly():
    registry = Registry[object]("composite", "doclrp.no-such-group")
    with pytest.raises(DoclrpError, match="doclrp.no-such-group.* missing from this installation: it predates them"):
        registry.names()
    with pytest.raises(DoclrpError, match="reinstall doclrp"):
        registry["epsilon"]


def test_listing_names_imports_nothing_heavy():
    code = ("import sys; from doclrp.registry import Group, registered_names; "
            "names = [registered_names(getattr(Group, g)) for g in dir(Group) if g.isupper()]; "
            "print(sorted(m for m in ('torch', 'transformers', 'spacy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_docs_list_what_the_registries_hold():
    """The site's composites table and its lists of methods name every registered method, and only those."""
    import re
    from pathlib import Path

    concepts = Path(__file__).resolve().parent.parent / "docs" / "concepts"
    page = (concepts / "composites.md").read_text(encoding="utf-8")
    table = page.split("## The named composites", 1)[1].split("\n\n", 2)[1]
    in_table = {name for row in table.splitlines()[2:] for name in re.findall(r"`([a-z0-9-]+)`", row.split("|")[1])}
    assert in_table == set(registered_names(Group.COMPOSITES))
    baselines = page.split("The baselines are methods too", 1)[1].split("\n\n", 1)[0]
    assert set(registered_names(Group.BASELINES)) <= set(re.findall(r"`([a-z0-9-]+)`", baselines))
    engine = (concepts / "engine.md").read_text(encoding="utf-8")
    methods = engine.split("is the one place a name becomes a method", 1)[1].split("```", 1)[0]
    for name in [*registered_names(Group.COMPOSITES), *registered_names(Group.BASELINES)]:
        assert f"`{name}`" in methods, name


def test_the_command_line_says_so_in_one_line(monkeypatch, capsys):
    """An installation whose metadata predates the entry points (an old editable install): one line, exit 2."""
    from doclrp import registry
    from doclrp.cli import main

    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [])
    registry._entry_points.cache_clear()
    try:
        assert main(["--help"]) == 2
    finally:
        monkeypatch.undo()
        registry._entry_points.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("doclrp: error: doclrp's registrations") and "reinstall doclrp" in err
    assert err.count("\n") == 1
