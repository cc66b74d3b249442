"""Manners shared by the three command lines (``python -m eoc``, ``proofs_check``, ``paper_repro``).

* ``--version`` on every parser (:func:`add_version`);
* a bad value is one line on stderr, ``error: <message>``, exit status 2, never a
  traceback (:class:`CLIError` for errors found by the command itself, ``ValueError``
  from the library);
* a closed pipe (``python -m eoc eoc --curve | head``) ends the program quietly
  with status 0, as ``cat`` does, instead of a ``BrokenPipeError`` traceback.

Use :func:`run` as the body of every ``main``::

    def main(argv=None) -> int:
        return run(_main, argv)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

__all__ = ["CLIError", "add_version", "run", "EXIT_USAGE"]

#: Exit status of a usage error (argparse's convention).
EXIT_USAGE = 2


class CLIError(ValueError):
    """An error in the command-line arguments; its message names the flag and the value."""


def add_version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--version`` (the installed ``eoc-pruning`` version) to ``parser``; return it."""
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s (eoc-pruning {__version__})")
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _quiet_broken_pipe() -> None:
    # Python flushes stdout at exit and would report the broken pipe a second time:
    # point stdout at /dev/null so the interpreter's final flush has nowhere to fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)`` with the manners of the module docstring; return the exit status.

    ``ValueError`` (and :class:`CLIError`) becomes ``error: <one line>`` on stderr with
    status 2; ``BrokenPipeError`` ends quietly with status 0; ``KeyboardInterrupt``
    prints ``interrupted`` and returns 130 (the shell's convention for SIGINT).
    Anything else is a bug and keeps its traceback.
    """
    try:
        status = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except ValueError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)
