"""Helpers shared by the CLI commands: JSON output, status-to-exit-code mapping, shared options.

Exit codes (all commands):

* 0 — every input was processed (statuses such as ``no_audio`` or ``no_face`` are results, not failures);
* 1 — at least one input could not be read or processed (``decode_error``, ``not_found``, ``empty``, ...);
* 2 — usage error (bad option or argument);
* 3 — internal error (a bug: please report it with the traceback shown by ``--debug``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from avsync.device import PRECISIONS

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def echo_json(payload: Any) -> None:
    """Print ``payload`` as indented JSON on stdout."""
    click.echo(json.dumps(payload, indent=2, allow_nan=False))


def warn(message: str) -> None:
    click.echo(message, err=True)


def exit_code_for(statuses) -> int:
    from avsync import Status

    return EXIT_INPUT_FAILED if any(Status(s).is_failure for s in statuses) else EXIT_OK


def fail(message: str, code: int = EXIT_INPUT_FAILED) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def precision_option(*, default: str | None, help: str):
    """The ``--precision`` option (choices: :data:`avsync.device.PRECISIONS`)."""
    return click.option("--precision", type=click.Choice(PRECISIONS), default=default,
                        show_default=default is not None, help=help)
