"""benchmarks/spoof_fresh_klettres.py: which files it lists and how it counts two batch runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import spoof_fresh_klettres as fk  # noqa: E402


def test_lists_only_the_languages_shared_does_not_hold(tmp_path):
    root = tmp_path / "usr" / "share" / "klettres"
    for lang in ("de", "en", "en_GB", "fr", "it", "ml"):
        (root / lang / "alpha").mkdir(parents=True)
        (root / lang / "alpha" / "a.ogg").write_bytes(b"")
    (root / "it" / "alpha" / "notes.txt").write_text("")
    (root / "icons").mkdir()
    files = fk.fresh_files(root)
    assert [fk.language(str(p)) for p in files] == ["it", "ml"]


def _run(path: Path, model: str, rows: list[tuple[str, str, bool | None]]) -> Path:
    with open(path, "w") as fh:
        for p, status, flagged in rows:
            fh.write(json.dumps({"path": p, "model": model, "status": status,
                                 "result": None if flagged is None else {"flagged": flagged}}) + "\n")
    return path


def test_table_counts_flags_only_on_files_every_run_scored(tmp_path):
    k = "/x/klettres/"
    base = _run(tmp_path / "b.jsonl", "base", [(k + "it/a/1.ogg", "ok", False), (k + "it/a/2.ogg", "ok", True),
                                              (k + "ml/a/1.ogg", "ok", False), (k + "ml/a/2.ogg", "too_short", None)])
    pair = _run(tmp_path / "p.jsonl", "pair", [(k + "it/a/1.ogg", "ok", True), (k + "it/a/2.ogg", "ok", True),
                                              (k + "ml/a/1.ogg", "no_speech", None), (k + "ml/a/2.ogg", "too_short", None)])
    out = fk.table({"base": fk.read_run(base), "pair": fk.read_run(pair)})
    assert "| it | 2 | 1 | 2 | 0 |" in out
    assert "| ml | 0 | 0 | 0 | 2 |" in out  # a file one run could not score counts for neither
    assert "| all 2 | 2 | 1 (50.0 %) | 2 (100.0 %) | 2 |" in out
