"""Batch runs as a new user meets them: the default task, its own output in the input folder, labels and
model names on the lines, a summary that counts what is done and flagged, readable errors, quiet workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import batch_tasks
import numpy as np
import pytest

from avsync.batch import TaskSpec, format_summary, read_results, run_batch
from avsync.batch.tasks import run_scorer
from avsync.synth import write_audio

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
CONTENT = TaskSpec("content", batch_tasks.content_factory, version="1")


@pytest.fixture
def calls(tmp_path) -> Path:
    root = tmp_path / "calls"
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        write_audio(root / f"call_{i}.wav", 0.1 * rng.standard_normal(1600).astype(np.float32), 8000)
    return root


def test_default_task_is_analyze():
    from avsync_cli.commands.batch import command

    (task,) = [p for p in command.params if p.name == "task"]
    assert task.default == "analyze"  # the verdict; the voice alone for audio-only calls


def test_its_own_results_file_in_the_input_folder_is_not_an_input(calls):
    out = calls / "results.jsonl"
    first = run_batch(calls, out, task=CONTENT, jobs=0, progress=False)
    again = run_batch(calls, out, task=CONTENT, jobs=0, progress=False)
    assert first.processed == 6 and again.processed == 0 and again.resumed == 6 and again.inputs == 6
    other = calls / "older_run.jsonl"  # another batch results file, under another name
    other.write_bytes(out.read_bytes())
    run_batch(calls, calls / "third.jsonl", task=CONTENT, jobs=0, progress=False)
    paths = {Path(r["path"]).name for r in read_results(out) + read_results(calls / "third.jsonl")}
    assert paths == {f"call_{i}.wav" for i in range(6)}


def test_lines_name_the_model_the_task_used(calls, tmp_path):
    spec = TaskSpec("named", batch_tasks.named_model_factory, version="1")
    run_batch(calls, tmp_path / "a.jsonl", task=spec, jobs=0, progress=False)
    assert {r["model"] for r in read_results(tmp_path / "a.jsonl")} == {"content-default"}


def test_spoof_task_gives_a_label_and_its_model(tmp_path):
    from avsync.spoof import eval_task

    silence = write_audio(tmp_path / "quiet.wav", np.zeros(16000 * 2, np.float32), 16000)
    d = eval_task("lcnn-spoof", device="cpu")(silence)
    assert d["status"] == "no_speech" and d["label"] == "undetermined" and d["model"] == "lcnn-spoof"
    out = tmp_path / "s.jsonl"
    run_batch([silence], out, task="spoof", model="lcnn-spoof", jobs=0, progress=False)
    (line,) = read_results(out)
    assert line["label"] == "undetermined" and line["model"] == "lcnn-spoof"


def test_spoof_task_options_score_every_window_of_short_files(tmp_path: Path) -> None:
    """``vad=False, min_duration_s=0`` (``avsync eval --option``): a 0.6 s take is scored, tiled to one window."""
    from avsync.spoof import eval_task

    x = (0.1 * np.random.default_rng(0).standard_normal(9600)).astype(np.float32)
    take = write_audio(tmp_path / "take.wav", x, 16000)
    assert eval_task("lcnn-spoof", device="cpu")(take)["status"] == "too_short"
    d = eval_task("lcnn-spoof", device="cpu", vad=False, min_duration_s=0.0, aggregation="max")(take)
    assert d["status"] == "ok" and 0.0 <= d["score"] <= 1.0 and len(d["windows"]) == 1
    assert d["aggregation"] == "max" and d["windows"][0]["speech"] == 1.0


@pytest.mark.shared
def test_spoof_lines_on_real_speech_carry_the_verdict_and_default_model(shared, tmp_path, monkeypatch):
    from avsync.spoof import DEFAULT_MODEL

    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(shared / "weights"))
    wavs = shared / "data" / "real_speech" / "freevc_demo" / "wavs"
    out = tmp_path / "s.jsonl"
    run_batch([str(wavs / "M_p272_219.flac")], out, task="spoof", jobs=0, progress=False)
    (line,) = read_results(out)
    assert line["status"] == "ok", line["error"]
    assert line["label"] in ("genuine", "synthetic") and line["model"] == DEFAULT_MODEL


def test_summary_counts_inputs_done_now_earlier_pending_and_flagged(calls, tmp_path):
    out = tmp_path / "r.jsonl"
    s = run_batch(calls, out, task=CONTENT, jobs=0, progress=False, max_files=2)
    assert (s.inputs, s.total, s.processed, s.pending) == (6, 2, 2, 4)
    text = format_summary(s)
    assert text.startswith("6 inputs: 2 scored now, 0 already done by earlier runs, 4 not done yet"), text
    s = run_batch(calls, out, task=CONTENT, jobs=0, progress=False)
    assert (s.inputs, s.processed, s.resumed, s.pending) == (6, 4, 2, 0)
    labels = [r["label"] for r in read_results(out)]
    assert s.flagged == labels.count("manipulated") and f"{s.flagged} flagged, 0 failed" in format_summary(s)
    assert json.loads(json.dumps(s.to_dict()))["flagged"] == s.flagged


def test_a_failed_line_says_why_not_just_its_status(tmp_path):
    def verdict_like(path):
        return {"status": "decode_error", "score": None, "reasons": ["undetermined: audio could not be decoded (x)"]}

    assert run_scorer(verdict_like, "x.mp4")["error"] == "undetermined: audio could not be decoded (x)"
    from avsync.pipeline import eval_task

    bad = tmp_path / "cut.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))  # an mp4 header and nothing else
    out = run_scorer(eval_task(None, device="cpu"), str(bad))
    assert out["status"] == "decode_error" and out["error"] != "decode_error"
    assert "not a readable audio/video file" in out["error"] and "[Errno" not in out["error"]


def test_workers_of_a_killed_run_end_without_a_traceback(tmp_path):
    wav = write_audio(tmp_path / "a.wav", np.zeros(1600, np.float32), 8000)
    env = {"PYTHONPATH": f"{REPO}:{REPO / 'cli'}:{TESTS}", "PATH": "/usr/bin:/bin"}
    code = f"import batch_tasks; batch_tasks.killed_parent_main({str(wav)!r})"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr


def test_run_batch_in_a_starting_worker_says_to_guard_the_script(tmp_path, monkeypatch):
    """A script without `if __name__ == "__main__":` would start the batch again in each spawned worker."""
    import multiprocessing

    from avsync.batch.engines import WORKER_NAME
    from avsync.errors import ConfigError

    monkeypatch.setattr(multiprocessing.current_process(), "name", WORKER_NAME)
    with pytest.raises(ConfigError, match='__name__ == "__main__"'):
        run_batch([str(tmp_path)], tmp_path / "r.jsonl", task="inspect", jobs=0, progress=False)


def test_a_worker_whose_parent_is_gone_stops_its_file():
    """kill -9 of `avsync batch`: the worker's next progress report finds the parent gone and stops the file (it ran
    each file to its end for nobody before)."""
    import multiprocessing

    from avsync.batch.engines import _ParentGone, _reporter

    parent, child = multiprocessing.Pipe()
    report = _reporter(child, 3)
    report(0.5)
    assert parent.recv() == ("progress", 3, 0.5)
    parent.close()
    with pytest.raises(_ParentGone):
        report(0.6)
