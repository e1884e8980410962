"""The built wheel works out of the box: it holds every model in models/ and `avsync analyze` runs them.

The wheel is built from a copy of the source tree (a stale build/ folder cannot leak files into it),
installed offline with ``--no-deps`` into a fresh virtual environment whose only route to the
dependencies is a ``.pth`` line naming this interpreter's site-packages (``.pth`` files there, such as
an editable install of avsync, are not processed), and run from a temporary folder without
``PYTHONPATH``, so the checkout's avsync is not importable.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from avsync import bundles

REPO = Path(__file__).resolve().parents[1]
SHIPPED_GLOBS = ("*.safetensors", "*.md", "*.json")  # [tool.setuptools.package-data] "avsync._models"
_TOP_IGNORED = {".git", "build", "dist", ".venv", ".pytest_cache", ".cache", "out", "runs", "samples", ".whl", ".gl"}

pytestmark = pytest.mark.slow


def _model_files() -> list[Path]:
    """Every file of models/<name>/ that the wheel must carry, relative to models/."""
    root = REPO / "models"
    return sorted(p.relative_to(root) for g in SHIPPED_GLOBS for p in root.glob(f"*/{g}"))


def _packaged_bundles() -> set[str]:
    """Bundles whose file lies in models/ (so the wheel ships them)."""
    return {b.name for b in bundles.list_bundles() if (REPO / "models" / b.file).is_file()}


def _can_build_wheel() -> str | None:
    """Why no wheel can be built with this interpreter, or ``None``."""
    if importlib.util.find_spec("pip") is None:
        return "pip is not installed in this interpreter"
    try:  # not imported here: importing setuptools replaces distutils in this process
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools (the build backend) is not installed in this interpreter"
    major, minor = (int(x) for x in [*re.findall(r"\d+", version), "0", "0"][:2])
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        return f"setuptools {version} needs the 'wheel' package to build wheels"
    return None


def _ignore(root: str):
    def ignore(d: str, names: list[str]) -> set[str]:
        out = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if Path(d) == Path(root):
            out |= _TOP_IGNORED & set(names)
        return out

    return ignore


def _site_packages() -> list[str]:
    paths = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        paths.append(site.getusersitepackages())
    return list(dict.fromkeys(p for p in paths if os.path.isdir(p)))


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "AVSYNC_MODELS_DIR", "VIRTUAL_ENV")}
    env["AVSYNC_CACHE"] = str(tmp / "empty-cache")  # nothing in a user cache: the weights come from the wheel
    return env


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """(wheel path, venv python, venv bin, work dir, env) of a fresh offline install of the built wheel."""
    why = _can_build_wheel()
    if why:
        pytest.skip(f"cannot build a wheel: {why}")
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist = tmp / "src", tmp / "dist"
    shutil.copytree(REPO, src, ignore=_ignore(str(REPO)), symlinks=True)
    env = _clean_env(tmp)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "--disable-pip-version-check", "-w", str(dist), str(src)],
                       capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    assert r.returncode == 0, f"building the wheel failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    (whl,) = dist.glob("avsync-*.whl")

    vdir = tmp / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(vdir)
    bindir = vdir / ("Scripts" if os.name == "nt" else "bin")
    vpy = bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, env=env, cwd=tmp).stdout.strip()
    # the dependencies (and pip) from this interpreter; its .pth files (an editable avsync) are not processed
    (Path(purelib) / "_avsync_test_deps.pth").write_text("\n".join(_site_packages()) + "\n")
    r = subprocess.run([str(vpy), "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
                        str(whl)], capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    assert r.returncode == 0, f"installing the wheel failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    work = tmp / "work"
    work.mkdir()
    return whl, vpy, bindir, work, env


def test_wheel_lists_every_model_file(wheel_env):
    whl = wheel_env[0]
    files = _model_files()
    names = {p.parts[0] for p in files}
    assert any(p.suffix == ".safetensors" for p in files) and names, "models/ holds no weights to check"
    for name in names:  # each model folder has its weights and its card
        assert (REPO / "models" / name / "MODEL_CARD.md").is_file(), f"models/{name} has no MODEL_CARD.md"
        assert list((REPO / "models" / name).glob("*.safetensors")), f"models/{name} has no .safetensors"
    with zipfile.ZipFile(whl) as z:
        listed = {i.filename: i.file_size for i in z.infolist()}
    missing = [str(p) for p in files if f"avsync/_models/{p.as_posix()}" not in listed]
    assert not missing, f"the wheel lacks models/ files: {missing}"
    for p in files:
        assert listed[f"avsync/_models/{p.as_posix()}"] == (REPO / "models" / p).stat().st_size


def test_installed_wheel_resolves_its_own_models(wheel_env):
    _, vpy, bindir, work, env = wheel_env
    code = ("import json, sys, avsync; from avsync import bundles; "
            "print(json.dumps({'avsync': avsync.__file__, 'prefix': sys.prefix, "
            "'found': {b.name: str(bundles.find(b) or '') for b in bundles.list_bundles()}}))")
    r = subprocess.run([str(vpy), "-c", code], capture_output=True, text=True, env=env, cwd=work, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    prefix = Path(info["prefix"]).resolve()
    assert Path(info["avsync"]).resolve().is_relative_to(prefix), f"not the installed avsync: {info['avsync']}"
    packaged = _packaged_bundles()
    assert {"artefact-mouth", "artefact-face", "syncnet-grid", "syncnet-v2", "syncnet-v3", "lcnn-spoof"} <= packaged
    for name in packaged:
        found = info["found"][name]
        assert found and Path(found).resolve().is_relative_to(prefix), f"{name}: {found!r} is not in the venv"
    exe = str(bindir / ("avsync.exe" if os.name == "nt" else "avsync"))
    r = subprocess.run([exe, "models", "list", "--json"], capture_output=True, text=True, env=env, cwd=work,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    for name in packaged:  # `avsync models list` shows them installed, from the package
        assert rows[name]["installed"] and rows[name]["source"] == "avsync", rows[name]
        assert Path(rows[name]["local_path"]).resolve().is_relative_to(prefix)


def test_installed_wheel_analyze_runs_every_default_cue_whose_model_ships(wheel_env):
    _, _, bindir, work, env = wheel_env
    exe = str(bindir / ("avsync.exe" if os.name == "nt" else "avsync"))
    clip = work / "talk.mp4"
    r = subprocess.run([exe, "sample", str(clip), "--duration", "3"], capture_output=True, text=True, env=env,
                       cwd=work, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([exe, "analyze", str(clip), "--json", "--device", "cpu"], capture_output=True, text=True,
                       env=env, cwd=work, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert isinstance(out, list) and len(out) == 1  # --json: a list in every FILE... command
    verdict = out[0]
    cues = {c["name"]: c for c in verdict["cues"]}
    assert cues["sync"]["status"] == "ok", cues["sync"]
    assert cues["artefact"]["status"] == "ok", cues["artefact"]  # the mouth-region model came from the wheel
    packaged = _packaged_bundles()
    for c in cues.values():  # a cue may lack its model only when that model is not shipped in models/
        if c["status"] in ("not_found", "model_error"):
            missing = re.findall(r"bundle '([^']+)'", c["message"] or "")
            assert missing and not set(missing) & packaged, f"cue {c['name']} lacks a shipped model: {c['message']}"
    refs = {m["name"]: m for m in verdict["provenance"]["models"]}
    assert refs["artefact-mouth"]["sha256"] == bundles.get_bundle("artefact-mouth").sha256


def test_installed_wheel_checks_a_voice_offline_with_the_default_model(wheel_env, tmp_path):
    import numpy as np

    from avsync.spoof.models import DEFAULT_MODEL
    from avsync.synth import write_audio
    from avsync.training import spoof_data as sd

    assert DEFAULT_MODEL in _packaged_bundles(), f"the default voice model {DEFAULT_MODEL} is not in models/"
    _, _, bindir, work, env = wheel_env
    speech = sd.tts_espeak("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue "
                           "background.", np.random.default_rng(0))
    if speech is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng; scripts/setup.sh does)")
    wav = write_audio(work / "call.wav", speech, sd.SR)
    exe = str(bindir / ("avsync.exe" if os.name == "nt" else "avsync"))
    r = subprocess.run([exe, "spoof", str(wav), "--json"], capture_output=True, text=True, env=env, cwd=work,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)
    assert res["status"] == "ok" and res["model"] == DEFAULT_MODEL, res
    assert res["model_sha256"] == bundles.get_bundle(DEFAULT_MODEL).sha256
    assert 0.0 <= res["score"] <= 1.0
