"""The ``doclrp`` command: thin argument parsing over the library.

    doclrp demo                       explain BBC test documents with the shipped model
    doclrp train --corpus bbc --model cnn --out models/bbc-cnn
    doclrp explain --model DIR --text "..." --out page.html [--method M --param NAME=V]
    doclrp corpus --model DIR --input bbc --out results.jsonl
    doclrp corpus summarize results.jsonl --out report/
    doclrp evaluate --model DIR --corpus bbc --methods epsilon,integrated-gradients,random

>>> main(["explain", "--model", "nowhere", "--text", "Hi.", "--out", "p.html"])
2

User errors end with one line on stderr (``doclrp: error: ...``) and exit code 2,
and leave no partial output behind. Each command is a module of this package with a
``run(args)``; :mod:`doclrp.cli.parsers` holds every parser and the shared options.
"""

from __future__ import annotations

import importlib
import sys

from doclrp.cli.checks import check_arguments
from doclrp.cli.parsers import build_parser, parse_command_line
from doclrp.cli.terminal import warnings_as_lines
from doclrp.errors import DoclrpError

__all__ = ["main", "build_parser", "EXIT_USAGE"]

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    """Run the ``doclrp`` command with ``argv`` (default ``sys.argv[1:]``); the exit code."""
    try:
        parser = build_parser()  # reads the registries' names: an install without them is one line too
    except DoclrpError as error:
        print(f"doclrp: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    args = parse_command_line(parser, argv)
    try:
        check_arguments(args)
        # Imported after parsing: the commands import torch, --help and argument errors must not wait for it.
        command = importlib.import_module(f"doclrp.cli.{args.command}")
        with warnings_as_lines():
            return command.run(args)
    except DoclrpError as error:
        print(f"doclrp: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("doclrp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
