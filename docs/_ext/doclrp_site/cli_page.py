"""The command-line reference, generated from ``doclrp.cli.parsers.build_parser``: every command,
its usage, description and options as argparse itself knows them, so the page cannot drift.

>>> page = cli_markdown()
>>> "## doclrp explain" in page and "--method" in page
True
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from .markdown import cell, code_cell, escape

__all__ = ["cli_markdown", "commands"]

#: The width usage lines are wrapped at (argparse reads $COLUMNS; the page must not depend on the terminal).
WIDTH = 90


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("doclrp",)
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every (command path, parser, one-line help) below ``parser``, depth first, itself first."""
    yield path, parser, ""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                for found_path, found, found_help in commands(sub, (*path, name)):
                    yield found_path, found, found_help or helps.get(name, "")


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows: list[str] = []
    for group in parser._action_groups:
        # --help is on every command and says nothing about it
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS
                   and not isinstance(a, (argparse._SubParsersAction, argparse._HelpAction))]
        if not actions:
            continue
        rows += ["", f"**{escape(group.title or 'options')}**", "", "| option | meaning |", "|---|---|"]
        for action in actions:
            names = ", ".join(action.option_strings) or action.metavar or action.dest
            metavar = formatter._format_args(action, action.dest.upper()) if action.nargs != 0 else ""
            flag = f"{names} {metavar}".strip() if action.option_strings else str(metavar or names)
            help_text = formatter._expand_help(action) if action.help else ""
            rows.append(f"| {code_cell(flag)} | {cell(help_text)} |")
    return rows


def cli_markdown() -> str:
    """The Markdown page of every ``doclrp`` command."""
    from doclrp.cli.parsers import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        parser = build_parser()
        lines = ["# Command line", "",
                 "Generated from the command's own argparse parsers (`doclrp.cli.parsers.build_parser`) when the "
                 "site is built: what `doclrp COMMAND --help` prints, as a page. Every command exits with code 2 "
                 "and one line `doclrp: error: …` on a user error, leaving no partial output.", ""]
        for path, sub, summary in commands(parser):
            title = " ".join(path)
            lines += [f"## {title}", ""]
            if summary:
                lines += [f"*{escape(summary)}*", ""]
            lines += ["```text", sub.format_usage().strip(), "```", ""]
            if sub.description:
                lines += [escape(" ".join(sub.description.split())), ""]
            lines += _option_rows(sub)
            if sub.epilog:
                lines += ["", escape(" ".join(sub.epilog.split()))]
            lines.append("")
        return "\n".join(lines)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
