"""Entry point of the ``avsync`` command (see ``avsync --help``)."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

import click

import avsync
from avsync.device import limit_omp_spinning, tune_cpu_allocator
from avsync_cli.common import EXIT_INPUT_FAILED, EXIT_INTERNAL, EXIT_USAGE

# sub-command name -> module under avsync_cli.commands exposing `command`
COMMANDS = {
    "analyze": "analyze",
    "artefacts": "artefacts",
    "calibrate": "calibrate",
    "batch": "batch",
    "inspect": "inspect",
    "models": "models",
    "sample": "sample",
    "eval": "eval",
    "sync": "sync",
    "faces": "faces",
    "spoof": "spoof",
    "train": "train",
}


class LazyGroup(click.Group):
    """Imports a sub-command's module only when it runs, so ``avsync --help`` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        mod = COMMANDS.get(name)
        if mod is None:
            return None
        return importlib.import_module(f"avsync_cli.commands.{mod}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(avsync.__version__, prog_name="avsync")
@click.option("--debug", is_flag=True, help="Show full tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """avsync: is the speech in this clip genuine? Lip-sync and voice-spoof analysis."""
    ctx.obj = {"debug": debug}
    tune_cpu_allocator()  # this process is ours: reuse freed tensor memory (AVSYNC_ALLOCATOR_TUNING=0: off)
    limit_omp_spinning()  # and idle OpenMP threads sleep instead of spinning (GOMP_SPINCOUNT, before torch loads)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="avsync", standalone_mode=True)
    except avsync.AvsyncError as e:  # an expected failure that escaped a command: no traceback
        click.echo(f"error: {e}", err=True)
        # a configuration the command cannot run with (--device cuda without a GPU, a bad config file) is a usage
        # error, not an input that could not be read
        sys.exit(EXIT_USAGE if isinstance(e, avsync.ConfigError) else EXIT_INPUT_FAILED)
    except Exception:  # a bug: say so plainly
        if "--debug" in (argv or sys.argv):
            traceback.print_exc()
        click.echo("internal error: rerun with --debug for the traceback and report it", err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
