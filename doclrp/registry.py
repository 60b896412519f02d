"""Registries: the things of one kind that doclrp knows by name (composites, baselines, dense
adapters, model kinds, corpus sources, renderers), each loaded on first use.

>>> colours = Registry[str]("colour")
>>> colours.add("red", "#f00")
>>> colours["red"], colours.names()
('#f00', ['red'])
>>> colours["rde"]
Traceback (most recent call last):
doclrp.registry.UnknownName: unknown colour 'rde' (did you mean 'red'?); choose one of: red

A registry's built-in entries are *entry points* of the installed package: ``pyproject.toml``
lists them under ``[project.entry-points."doclrp.NAME"]`` as ``name = "module:attribute"``. So a
layer names what a higher layer defines (the core's ``attnlrp`` composite lives in
``models/hf``) without importing it, a name is listed (``--help``) without importing anything,
and another package can add its own. Code adds more at run time with :meth:`Registry.add`. This
module imports nothing of torch: the command line reads the names before torch is imported.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, MutableMapping
from importlib import metadata
from typing import Generic, TypeVar

from doclrp.errors import DoclrpError

__all__ = ["Registry", "UnknownName", "Group", "registered_names", "unknown_name"]

T = TypeVar("T")


class Group:
    """The entry-point groups of doclrp's registries (``[project.entry-points]`` in pyproject.toml)."""

    COMPOSITES = "doclrp.composites"
    BASELINES = "doclrp.baselines"
    DENSE_ADAPTERS = "doclrp.dense_adapters"
    MODEL_TYPES = "doclrp.model_types"
    MODEL_KINDS = "doclrp.model_kinds"
    CORPUS_SOURCES = "doclrp.corpus_sources"
    TARGET_CHECKS = "doclrp.target_checks"
    RENDERERS = "doclrp.renderers"


class UnknownName(DoclrpError, KeyError):
    """A name a registry does not know: a `DoclrpError` (one line at the command line) and a
    ``KeyError`` (what a mapping raises), its message naming the closest names and all of them."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def unknown_name(kind: str, name: object, names: list[str]) -> str:
    """What to say of ``name``, not among ``names`` of this ``kind``: the closest name, and all of them.

    >>> unknown_name("method", "epsilno", ["epsilon", "zero"])
    "unknown method 'epsilno' (did you mean 'epsilon'?); choose one of: epsilon, zero"
    """
    close = difflib.get_close_matches(name, names, n=1) if isinstance(name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; choose one of: {', '.join(names)}"


@functools.cache
def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """The installed entry points of ``group`` by name, in name order (build tools do not keep
    the order of pyproject.toml); the first distribution to declare a name wins."""
    found: dict[str, metadata.EntryPoint] = {}
    for point in sorted(metadata.entry_points(group=group), key=lambda point: point.name):
        found.setdefault(point.name, point)
    if not found:
        raise DoclrpError(
            f"doclrp's registrations (entry-point group {group!r}) are missing from this installation: it "
            "predates them, or doclrp runs from a folder that was never installed; reinstall doclrp "
            "(pip install -e . in its folder, or make install)"
        )
    return found


def registered_names(group: str) -> list[str]:
    """The names the installed package declares in ``group``, without importing any of them.

    >>> "epsilon" in registered_names(Group.COMPOSITES)
    True
    """
    return list(_entry_points(group))


class Registry(MutableMapping[str, T], Generic[T]):
    """Names → things of one ``kind``: the entry points of ``group`` (imported on first
    look-up; in name order) and those added at run time (in the order added). An unknown name is an
    :class:`UnknownName` error that suggests the closest names and lists them all.

    >>> sizes = Registry[int]("size")
    >>> sizes.add("small", 1)
    >>> sizes.add("large", 3)
    >>> list(sizes), "small" in sizes, sizes.get("huge")
    (['small', 'large'], True, None)
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._loaded: dict[str, T] = {}
        self._added: list[str] = []
        self._removed: set[str] = set()

    def _declared(self) -> dict[str, metadata.EntryPoint]:
        if self.group is None:
            return {}
        declared = _entry_points(self.group)
        if not self._removed:  # the usual case, and a look-up on the hot path: no copy
            return declared
        return {name: point for name, point in declared.items() if name not in self._removed}

    def add(self, name: str, value: T) -> None:
        """Register ``value`` under ``name`` (replacing an entry of that name)."""
        if not isinstance(name, str) or not name:
            raise DoclrpError(f"a {self.kind} name is a non-empty str, got {name!r}")
        self._removed.discard(name)
        self._loaded[name] = value
        if name not in self._added:
            self._added.append(name)

    def names(self) -> list[str]:
        """Every name: the declared ones, then those added."""
        declared = list(self._declared())
        return declared + [name for name in self._added if name not in declared]

    def unknown(self, name: object) -> UnknownName:
        """The error for a name this registry does not know."""
        return UnknownName(unknown_name(self.kind, name, self.names()))

    def __getitem__(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        point = self._declared().get(name) if isinstance(name, str) else None
        if point is None:
            raise self.unknown(name)
        value: T = point.load()
        self._loaded[name] = value
        return value

    def __setitem__(self, name: str, value: T) -> None:
        self.add(name, value)

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise self.unknown(name)
        self._loaded.pop(name, None)
        if name in self._added:
            self._added.remove(name)
        if name in self._declared():
            self._removed.add(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._loaded or name in self._declared())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
