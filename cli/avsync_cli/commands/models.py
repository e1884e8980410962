"""``avsync models list|pull|verify|path``: the weights bundles."""

from __future__ import annotations

import sys

import click

from avsync_cli.common import EXIT_INPUT_FAILED, EXIT_USAGE, echo_json, fail


@click.group("models")
def command() -> None:
    """Weights bundles: list them, download (only when asked), verify sha256, show paths.

    Files are looked up in: --models-dir / an explicit path, $AVSYNC_MODELS_DIR, the user cache
    ($AVSYNC_CACHE or ~/.cache/avsync), avsync's own packaged models (inside the installed package;
    models/ in a source checkout), and (GE2E, Silero VAD) the pip package that ships them.
    """


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="The same rows as JSON, with the local path and how to get each.")
def list_(as_json: bool) -> None:
    """Every model: role, whether `avsync analyze` uses it by default, whether it is installed, size, sha256 (the
    first 12 hex digits; all of it with --json), licence.

    Lists the weights bundles and the models that ship inside a Python package (YuNet in yuface, OpenCV's
    Haar cascade, MediaPipe's face mesh), by role, the default of each role first.
    """
    from avsync.catalog import format_size, list_models

    rows = list_models()
    if as_json:
        echo_json([r.to_dict() for r in rows])
        return
    head = ("name", "role", "default", "installed", "size", "sha256", "licence", "restrictions")
    table = [head] + [
        (r.name, r.role, "yes" if r.default else "no", "yes" if r.installed else "no", format_size(r.size),
         f"{r.sha256[:12]}…" if r.sha256 else "-", r.license, r.restrictions or "-")
        for r in rows
    ]
    widths = [max(len(t[i]) for t in table) for i in range(len(head))]
    for t in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
    for r in rows:
        if r.default and not r.installed and r.how_to_get:
            click.echo(f"\n{r.name} (default {r.role} model) is not installed: {r.how_to_get}")


def _names(names: tuple[str, ...], all_: bool) -> list[str]:
    """The weights bundles named (each checked: a name `models list` does not know is a usage error; a model that
    ships inside a pip package is said so and left out: it has no file of avsync's to fetch, verify or find)."""
    from avsync import bundles

    if all_:
        return [b.name for b in bundles.list_bundles()]
    if not names:
        raise click.UsageError("name at least one bundle, or pass --all")
    packaged = {r.name: r for r in _catalog() if r.name not in bundles.REGISTRY}
    unknown = [n for n in names if n not in bundles.REGISTRY and n not in packaged]
    if unknown:
        fail(f"unknown model {', '.join(map(repr, unknown))}; `avsync models list` shows them all", EXIT_USAGE)
    for n in names:
        if n in packaged:
            r = packaged[n]
            where = r.local_path or ("it has no weights" if r.source == "built in" else r.how_to_get or "not installed")
            click.echo(f"{n}: {r.source}, not a weights bundle of avsync ({where})")
    return [n for n in names if n not in packaged]


def _catalog():
    from avsync.catalog import list_models

    return list_models()


@command.command("pull")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every bundle that has a URL.")
@click.option("--dest", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Target directory (default: the user cache).")
def pull(names: tuple[str, ...], all_: bool, dest: str | None) -> None:
    """Download bundles from their official URL into the user cache, verifying sha256."""
    from avsync import AvsyncError, bundles

    code = 0
    todo: list[str] = []
    for name in _names(names, all_):  # a head's base checkpoint(s) first
        for n in (*getattr(bundles.REGISTRY.get(name), "requires", ()), name):
            if n not in todo:
                todo.append(n)
    for name in todo:
        try:
            b = bundles.get_bundle(name)
            have = bundles.find(b, path=dest) if dest else bundles.find(b)
            if have is not None:
                bundles.verify_file(have, b)
                click.echo(f"{name}: already present at {have}")
                continue
            if all_ and not b.url:
                click.echo(f"{name}: no URL ({b.install_hint})")
                continue
            click.echo(f"{name}: {bundles.download(b, dest_dir=dest)}")
        except AvsyncError as e:
            click.echo(f"{name}: error: {e}", err=True)
            code = EXIT_INPUT_FAILED
    sys.exit(code)


@command.command("verify")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every bundle with a local copy.")
@click.option("--path", "path", type=click.Path(path_type=str), default=None, help="Explicit file or models directory.")
def verify(names: tuple[str, ...], all_: bool, path: str | None) -> None:
    """Check the sha256 of local copies; exit 1 when one is missing or differs."""
    from avsync import AvsyncError, bundles

    code = 0
    for name in _names(names, all_):
        p = bundles.find(name, path=path)
        if p is None:
            if not all_:
                click.echo(f"{name}: missing", err=True)
                code = EXIT_INPUT_FAILED
            continue
        try:
            bundles.verify_file(p, name)
            click.echo(f"{name}: ok {p}")
        except AvsyncError as e:
            click.echo(f"{name}: {e}", err=True)
            code = EXIT_INPUT_FAILED
    sys.exit(code)


@command.command("path")
@click.argument("name", required=False)
def path_(name: str | None) -> None:
    """Without NAME: the directories searched. With NAME: the local file of that bundle."""
    from avsync import bundles

    if name is None:
        for d in bundles.search_dirs():
            click.echo(str(d))
        return
    if not _names((name,), False):  # ships inside a package: said where
        return
    p = bundles.find(name)
    if p is None:
        click.echo(f"{name}: not found; run `avsync models pull {name}`", err=True)
        sys.exit(EXIT_INPUT_FAILED)
    click.echo(str(p))
