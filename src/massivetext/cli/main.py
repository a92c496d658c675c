"""Entry point of the ``massivetext`` command.

Each verb lives in its own module of this package and exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed ``argparse.Namespace``, returning an exit code or None). Verbs are
listed in ``VERBS``; a verb appears only when its stage exists.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from massivetext import __version__
from massivetext.errors import MassiveTextError

# verb module names, in the order of the road from text to model
VERBS = ["corpus", "curate", "dedup", "tokenize", "train", "generate", "evaluate", "run", "serve", "quickstart"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"massivetext: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="massivetext", description="From massive raw text to language models.")
    parser.add_argument("--version", action="version", version=f"massivetext {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    for verb in VERBS:
        try:
            module = importlib.import_module(f"massivetext.cli.{verb}")
        except ModuleNotFoundError as e:
            if e.name == f"massivetext.cli.{verb}":
                continue  # stage not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except MassiveTextError as e:
        if args.debug:
            raise
        print(f"massivetext: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("massivetext: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
