"""docs/api.md is generated from the code: it must say what the docstrings and signatures say."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_docs.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout


def test_api_reference_check_notices_a_stale_file(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import api_docs
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(api_docs, "OUT", tmp_path / "api.md")
    monkeypatch.setattr(api_docs, "ROOT", tmp_path)
    (tmp_path / "api.md").write_text(api_docs.render().replace("load_media", "open_media", 1))
    assert api_docs.main(["--check"]) == 1
    assert api_docs.main([]) == 0 and api_docs.main(["--check"]) == 0
