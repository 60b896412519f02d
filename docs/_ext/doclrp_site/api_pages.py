"""The Python reference, generated from the package itself: one page per public package (every
sub-package of ``doclrp`` with an ``__all__``, plus the modules the guides name), each name
documented from its docstring by Sphinx's autodoc, once, on the page of the first package that
exports it (``doclrp`` first); the other pages link to it.

>>> pages = api_pages()
>>> pages[0].module, "explain" in pages[0].markdown
('doclrp', True)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from types import ModuleType

from .markdown import first_sentence, prose_cell

__all__ = ["ApiPage", "EXTRA_MODULES", "api_pages", "public_names", "public_modules"]

#: Modules below the packages that the guides name by their module path (each has public names of its own).
EXTRA_MODULES = ("doclrp.core.attention_rules", "doclrp.models.toolbox", "doclrp.models.toolbox_io",
                 "doclrp.models.hf.composites", "doclrp.render.image")


@dataclass(frozen=True)
class ApiPage:
    """One generated page: the module it documents, its file stem, the first sentence of the
    module's docstring and the page's Markdown."""

    module: str
    stem: str
    summary: str
    markdown: str


def public_modules() -> list[str]:
    """``doclrp``, its packages and its top-level modules that declare ``__all__``, then
    ``EXTRA_MODULES`` (those that exist)."""
    import doclrp

    found = ["doclrp"]
    for info in pkgutil.walk_packages(doclrp.__path__, "doclrp."):
        public = not any(part.startswith("_") for part in info.name.split("."))
        if public and (info.ispkg or info.name.count(".") == 1):
            if hasattr(importlib.import_module(info.name), "__all__"):
                found.append(info.name)
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a module a later change moved: the page goes with it
            continue
        found.append(name)
    return list(dict.fromkeys(found))


def public_names(module: ModuleType) -> list[str]:
    """``module.__all__``, or the names it defines itself that do not start with ``_``."""
    if hasattr(module, "__all__"):
        return [name for name in module.__all__ if name != "__version__" or module.__name__ == "doclrp"]
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__]


def attribute_doc(module_name: str, name: str) -> list[str]:
    """The ``#:`` comment above ``name`` where it is assigned: in ``module_name`` or a module below it.

    >>> attribute_doc("doclrp.core", "BASELINES")[0]
    'Baseline methods by name, each a class built with its parameters: the entry points'
    >>> attribute_doc("doclrp.core", "no_such_name")
    []
    """
    from sphinx.pycode import ModuleAnalyzer

    module = importlib.import_module(module_name)
    candidates = [module_name]
    if hasattr(module, "__path__"):
        candidates += [info.name for info in pkgutil.walk_packages(module.__path__, module_name + ".")]
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source (compiled, generated) has no comments
            continue
        if ("", name) in docs:
            return list(docs[("", name)])
    return []


def _directive(qualified: str, value: object) -> str:
    if inspect.ismodule(value):
        return ""
    # autodoc writes reStructuredText (docstrings are reST), so its directives sit in eval-rst blocks
    if inspect.isclass(value):
        return f"```{{eval-rst}}\n.. autoclass:: {qualified}\n   :members:\n   :show-inheritance:\n```\n"
    if inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.ismethod(value):
        return f"```{{eval-rst}}\n.. autofunction:: {qualified}\n```\n"
    # a constant: its ``#:`` comment (autodoc would show the docstring of its type, dict's or tuple's)
    module_name, name = qualified.rsplit(".", 1)
    body = "".join(f"   {line}\n" for line in attribute_doc(module_name, name))
    return f"```{{eval-rst}}\n.. py:data:: {qualified}\n\n{body}```\n"


def _summary(module_name: str, name: str, value: object) -> str:
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
        return first_sentence(inspect.getdoc(value))
    return first_sentence("\n".join(attribute_doc(module_name, name)))  # a constant: its docstring would be its type's


def api_pages() -> list[ApiPage]:
    """The pages of every public module, each name documented on the first page that exports it."""
    homes: dict[int, str] = {}  # id(object) → the qualified name it is documented under
    pages = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        rows, bodies = [], []
        for name in public_names(module):
            value = getattr(module, name)
            qualified = f"{module_name}.{name}"
            # plain values (numbers, names, tables) are documented under each name that exports them
            plain = isinstance(value, (str, int, float, bool, tuple, dict, frozenset))
            key = id(value)
            if inspect.ismodule(value):
                target = f"[{value.__name__}]({value.__name__}.md)" if value.__name__ in public_modules() else f"`{value.__name__}`"
                rows.append(f"| `{name}` | the module {target} |")
                continue
            if not plain and key in homes:
                rows.append(f"| {{py:obj}}`{name} <{homes[key]}>` | {prose_cell(_summary(module_name, name, value))} (documented as `{homes[key]}`) |")
                continue
            if not plain:
                homes[key] = qualified
            rows.append(f"| {{py:obj}}`{name} <{qualified}>` | {prose_cell(_summary(module_name, name, value))} |")
            bodies.append(_directive(qualified, value))
        lines = [f"# {module_name}", "", f"```{{eval-rst}}\n.. automodule:: {module_name}\n   :no-members:\n```", ""]
        if rows:
            lines += ["| name | what it is |", "|---|---|", *rows, ""]
        if bodies:
            lines += ["## Details", "", *bodies]
        pages.append(ApiPage(module_name, module_name, first_sentence(module.__doc__), "\n".join(lines)))
    return pages
