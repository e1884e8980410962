"""Batch runs: input discovery, content sniffing, crash-safe JSONL, resume, engines, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import batch_tasks
import numpy as np
import pytest

from avsync.batch import (
    VOLATILE_FIELDS,
    BatchSummary,
    ResultsLog,
    TaskSpec,
    discover_inputs,
    final_records,
    format_summary,
    read_results,
    result_key,
    run_batch,
    sniff,
    summarize,
)
from avsync.batch.tasks import NamedTask, resolve_task
from avsync.errors import ConfigError
from avsync.synth import write_audio

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
CONTENT = TaskSpec("content", batch_tasks.content_factory, version="1")
N_WAV = 8


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "cli"), str(TESTS), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clip) -> Path:
    """A folder of distinct small wavs, one A/V clip, and in sub/ a duplicate of the first wav."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for i in range(N_WAV):
        write_audio(root / f"call_{i:02d}.wav", 0.1 * rng.standard_normal(1600).astype(np.float32), 8000)
    (root / "sub").mkdir()
    (root / "sub" / "copy_of_call_00.wav").write_bytes((root / "call_00.wav").read_bytes())
    (root / "clip.mp4").write_bytes(Path(clip("batch_av", duration=1.0)).read_bytes())
    return root


@pytest.fixture(scope="module")
def broken(tmp_path_factory, corpus) -> Path:
    """Zero-byte, truncated, non-media and hidden files beside a good one."""
    root = tmp_path_factory.mktemp("broken")
    good = (corpus / "clip.mp4").read_bytes()
    (root / "good.mp4").write_bytes(good)
    (root / "zero.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes(good[: len(good) // 8])
    (root / "readme.txt").write_text("not media\n")
    (root / "notes.txt").write_bytes(b"")  # an empty marker or lock file beside the recordings
    (root / "photo.wav").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))  # a picture named .wav
    (root / ".hidden.mp4").write_bytes(good)
    return root


def _stable(records: dict) -> dict:
    return {p: {k: v for k, v in r.items() if k not in VOLATILE_FIELDS} for p, r in records.items()}


def _final(out) -> dict:
    return _stable(final_records(read_results(out)))


# -- inputs and sniffing -------------------------------------------------------------------------


def test_sniff_by_content_not_extension(corpus, broken, tmp_path):
    assert sniff(corpus / "call_00.wav").format == "wav"
    assert sniff(corpus / "clip.mp4").format == "mp4"
    renamed = tmp_path / "call.dat"
    renamed.write_bytes((corpus / "call_01.wav").read_bytes())
    assert sniff(renamed).kind == "media"  # no media extension, still media
    assert sniff(broken / "photo.wav").kind == "not_media"  # media extension, not media
    assert sniff(broken / "readme.txt").kind == "not_media"
    assert sniff(broken / "zero.mp4").kind == "empty"
    assert sniff(broken / "truncated.mp4").kind == "media"  # header is fine; the task finds the damage
    assert sniff(tmp_path / "missing.wav").kind == "unreadable"
    assert sniff(tmp_path).kind == "unreadable"
    for preset in ("flac", "ogg", "mp3"):
        p = write_audio(tmp_path / f"x.{preset}", np.zeros(8000, np.float32), 16000, preset=preset)
        assert sniff(p).kind == "media", preset


def test_discover_folder_glob_and_manifests(corpus, tmp_path):
    items = discover_inputs(corpus)
    names = [os.path.relpath(i.path, corpus) for i in items]
    assert names == sorted(names[:-1]) + ["sub/copy_of_call_00.wav"]  # sorted walk, sub-folder last
    assert len(items) == N_WAV + 2 and all(i.origin == "folder" for i in items)
    globbed = discover_inputs(str(corpus / "**" / "*.wav"))
    assert len(globbed) == N_WAV + 1 and all(i.origin == "glob" for i in globbed)

    csv_path = tmp_path / "m.csv"
    csv_path.write_text(f"file,label\n{corpus / 'call_00.wav'},genuine\nrel/call.wav,fake\n")
    rows = discover_inputs(csv_path)
    assert [r.origin for r in rows] == ["manifest", "manifest"]
    assert rows[0].meta == {"label": "genuine"}
    assert rows[1].path == str(tmp_path / "rel" / "call.wav")  # relative to the manifest

    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(json.dumps({"path": str(corpus / "call_01.wav"), "id": 7}) + "\n\n")
    (row,) = discover_inputs(jsonl)
    assert row.meta == {"id": 7}

    bad = tmp_path / "bad.csv"
    bad.write_text("name,label\na.wav,x\n")
    with pytest.raises(ConfigError, match="no 'path' or 'file' column"):
        discover_inputs(bad)
    with pytest.raises(ConfigError, match="matches no file"):
        discover_inputs(str(tmp_path / "*.nothing"))
    edited = tmp_path / "edits.csv"  # an evaluation manifest's audio edits are made by avsync eval, not here
    edited.write_text(f"path,label,audio\n{corpus / 'call_00.wav'},real,\n{corpus / 'call_00.wav'},fake,shift:+8\n")
    with pytest.raises(ConfigError, match="row 2 edits its audio"):
        discover_inputs(edited)
    (tmp_path / "no_edits.csv").write_text(f"path,audio\n{corpus / 'call_00.wav'},\n")
    assert len(discover_inputs(tmp_path / "no_edits.csv")) == 1  # an empty audio column is no edit


# -- the results log -------------------------------------------------------------------------------


def _rec(path, n):
    return {"path": path, "task": "t", "key": "k", "status": "ok", "n": n}


def test_results_log_truncates_torn_line_and_locks(tmp_path):
    out = tmp_path / "r.jsonl"
    with ResultsLog(out) as log:
        log.append(_rec("a", 1))
        log.append(_rec("b", 2))
        with pytest.raises(ConfigError, match="another run"):
            ResultsLog(out).open()
    with open(out, "ab") as fh:
        fh.write(b'{"path": "c", "n"')  # a crash in the middle of a line
    with pytest.warns(UserWarning, match="torn"):
        assert [r["path"] for r in read_results(out)] == ["a", "b"]
    log = ResultsLog(out).open()
    assert log.truncated_bytes == len(b'{"path": "c", "n"')
    assert [r["n"] for _, _, r in log.records()] == [1, 2]
    where = log.append(_rec("c", 3))
    assert log.read_at(*where) == _rec("c", 3)
    log.close()
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(x)["n"] for x in lines[:-1]] == [1, 2, 3]


@pytest.mark.parametrize("content", [b"ID3\x04\x00audio bytes\nmore audio, no newline at the end",
                                     b"path,label\ncall.wav,real\nlast line without newline",
                                     b'{"path": "call.wav", "label": "real"}\n'])
def test_results_log_refuses_a_file_that_is_not_results_and_leaves_it_whole(tmp_path, corpus, content):
    """--out pointed at a recording, a manifest or notes by mistake: nothing cut off, nothing appended, exit 2."""
    victim = tmp_path / "evidence.mp3"
    victim.write_bytes(content)
    with pytest.raises(ConfigError, match="not an avsync batch results file"):
        ResultsLog(victim).open()
    with pytest.raises(ConfigError, match="not an avsync batch results file"):
        run_batch([str(corpus / "call_00.wav")], victim, task=CONTENT, jobs=0, progress=False)
    assert victim.read_bytes() == content


def test_results_log_that_cannot_be_written_is_a_config_error(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="cannot write the results file"):
        ResultsLog(tmp_path / "taken").open()  # a folder of that name
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot write the results file"):
        ResultsLog(tmp_path / "file" / "r.jsonl").open()  # under a file


# -- runs ---------------------------------------------------------------------------------------------


def test_broken_folder_completes_with_statuses(broken, tmp_path):
    out = tmp_path / "r.jsonl"
    summary = run_batch(broken, out, task="inspect", jobs=1, progress=False)
    final = final_records(read_results(out))
    status = {os.path.basename(p): r["status"] for p, r in final.items()}
    assert status == {
        "good.mp4": "ok",
        "zero.mp4": "empty",
        "truncated.mp4": "decode_error",
        "readme.txt": "skipped",
        "notes.txt": "skipped",  # empty, but not named like media: not a failed recording
        "photo.wav": "decode_error",  # named like a recording: damaged, not a stray document
    }
    assert ".hidden.mp4" not in status
    for r in final.values():
        assert r["task"] == "inspect" and r["model"] is None and len(r["sha256"]) == 64
        assert (r["error"] is None) == (r["status"] == "ok"), r
    trunc = final[str(broken / "truncated.mp4")]
    assert "truncated" in trunc["error"] or "not a readable" in trunc["error"]
    assert final[str(broken / "good.mp4")]["result"]["video"]["width"] > 0
    assert isinstance(summary, BatchSummary)
    assert summary.total == 6 and summary.failed == 3 and summary.processed == 2  # good + truncated scored
    assert summary.by_status["skipped"] == 2
    assert "named .wav but not an audio or video file" in final[str(broken / "photo.wav")]["error"]
    # the summary names the failed files and why
    assert sorted((os.path.basename(f.path), f.status) for f in summary.failures) == [
        ("photo.wav", "decode_error"), ("truncated.mp4", "decode_error"), ("zero.mp4", "empty")]
    text = format_summary(summary)
    assert "failed:" in text and f"decode_error   {broken / 'photo.wav'}: named .wav" in text
    assert "readme.txt" not in text  # skipped is a result, not a failure
    # a manifest asks for its files explicitly: a non-media file there is a failure, not a skip
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{broken / 'readme.txt'}\n{tmp_path / 'gone.mp4'}\n")
    run_batch(manifest, tmp_path / "m.jsonl", task="inspect", jobs=0, progress=False)
    st = {os.path.basename(p): r["status"] for p, r in final_records(read_results(tmp_path / "m.jsonl")).items()}
    assert st == {"readme.txt": "decode_error", "gone.mp4": "not_found"}


def test_task_errors_and_worker_crash_do_not_stop_the_run(corpus, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    wav = (corpus / "call_03.wav").read_bytes()
    for name, data in [("a_boom.wav", wav), ("b_crash.wav", (corpus / "call_04.wav").read_bytes()),
                       ("c_ok.wav", (corpus / "call_05.wav").read_bytes()), ("d_absent.wav", wav)]:
        (folder / name).write_bytes(data)
    builds = tmp_path / "builds.txt"
    os.environ[batch_tasks.BUILDS_FILE_ENV] = str(builds)
    try:
        out = tmp_path / "r.jsonl"
        summary = run_batch(folder, out, task=CONTENT, jobs=2, progress=False)
    finally:
        del os.environ[batch_tasks.BUILDS_FILE_ENV]
    final = {os.path.basename(p): r for p, r in final_records(read_results(out)).items()}
    assert final["a_boom.wav"]["status"] == "error"
    assert "RuntimeError: scorer exploded on purpose" in final["a_boom.wav"]["error"]
    assert final["b_crash.wav"]["status"] == "error"
    assert "worker process died (exit code 13)" in final["b_crash.wav"]["error"]
    assert final["c_ok.wav"]["status"] == "ok" and 0 <= final["c_ok.wav"]["score"] <= 1
    # same bytes as a_boom, but a different name: scored on its own (boom failed, so no reuse)
    assert final["d_absent.wav"]["status"] == "no_speech" and final["d_absent.wav"]["error"] is None
    assert summary.failed == 2 and summary.total == 4
    # two workers built the task once each, plus one replacement after the crash
    assert len(builds.read_text().split()) == 3


def test_resume_after_max_files_and_torn_line_equals_one_run(corpus, tmp_path):
    ref = tmp_path / "ref.jsonl"
    full = run_batch(corpus, ref, task=CONTENT, jobs=0, progress=False)
    assert full.total == N_WAV + 2 and full.processed == N_WAV + 1 and full.reused == 1
    assert sum(full.by_label.values()) == N_WAV + 2  # every line (the reused copy too) has a label

    out = tmp_path / "r.jsonl"
    first = run_batch(corpus, out, task=CONTENT, jobs=0, max_files=4, progress=False)
    assert len(read_results(out)) == 4 and first.interrupted
    # a crash mid-line: keep the first 3 lines and half of the 4th
    data = out.read_bytes()
    cut = [i for i, b in enumerate(data) if b == ord("\n")]
    out.write_bytes(data[: cut[2] + 1 + (cut[3] - cut[2]) // 2])
    second = run_batch(corpus, out, task=CONTENT, jobs=0, progress=False)
    assert not second.interrupted
    assert second.resumed == 3  # the torn 4th line's file was done again
    assert second.processed + second.reused + second.resumed == N_WAV + 2
    lines = read_results(out)
    assert len(lines) == N_WAV + 2  # one line per input, no duplicates
    assert _final(out) == _final(ref)
    # a third run has nothing left to do
    third = run_batch(corpus, out, task=CONTENT, jobs=0, progress=False)
    assert third.processed == 0 and third.resumed == N_WAV + 2 and len(read_results(out)) == N_WAV + 2


def test_resume_key_depends_on_content_task_and_model(corpus, tmp_path):
    k = result_key("ab" * 32, task="spoof", task_version="1", model=None)
    assert k != result_key("ab" * 32, task="spoof", task_version="2", model=None)
    assert k != result_key("ab" * 32, task="spoof", task_version="1", model="m")
    assert k != result_key("cd" * 32, task="spoof", task_version="1", model=None)
    assert k != result_key("ab" * 32, task="sync", task_version="1", model=None)
    out = tmp_path / "r.jsonl"
    files = [str(corpus / "call_00.wav"), str(corpus / "call_01.wav")]
    run_batch(files, out, task=CONTENT, jobs=0, progress=False)
    again = run_batch(files, out, task=CONTENT, model="slow:0", jobs=0, progress=False)
    assert again.processed == 2  # another model: not the same result
    # a file rewritten in place (new content) is scored again
    rng = np.random.default_rng(1)
    moved = tmp_path / "call.wav"
    write_audio(moved, rng.standard_normal(800).astype(np.float32) * 0.1, 8000)
    run_batch([str(moved)], out, task=CONTENT, jobs=0, progress=False)
    write_audio(moved, rng.standard_normal(900).astype(np.float32) * 0.1, 8000)
    assert run_batch([str(moved)], out, task=CONTENT, jobs=0, progress=False).processed == 1


def test_resume_key_depends_on_the_weights_behind_the_task(corpus, tmp_path, monkeypatch):
    """Lines scored before a default model changed (or new weights came under the same name) are scored again."""
    import avsync.evaluation.tasks as registry

    k = result_key("ab" * 32, task="spoof", task_version="0", model=None)
    assert result_key("ab" * 32, task="spoof", task_version="0", model=None, models={}) == k
    one = result_key("ab" * 32, task="spoof", task_version="0", model=None, models={"voice": "v 11"})
    assert one != k and one != result_key("ab" * 32, task="spoof", task_version="0", model=None, models={"voice": "v 22"})
    out = tmp_path / "r.jsonl"
    files = [str(corpus / "call_00.wav"), str(corpus / "call_01.wav")]
    monkeypatch.setattr(registry, "task_models", lambda name, model=None: {"voice": "v 11"})
    assert run_batch(files, out, task=CONTENT, jobs=0, progress=False).processed == 2
    assert run_batch(files, out, task=CONTENT, jobs=0, progress=False).processed == 0
    monkeypatch.setattr(registry, "task_models", lambda name, model=None: {"voice": "v 22"})
    assert run_batch(files, out, task=CONTENT, jobs=0, progress=False).processed == 2


def test_resume_keys_of_runs_without_options_are_stable(monkeypatch):
    # results files written before task options reached the task must still resume: no options, an
    # empty config and a spec without options all give the key those files hold
    import avsync

    monkeypatch.setattr(avsync, "__version__", "0.1.0")
    key = result_key("ab" * 32, task="spoof", task_version="0", model=None)
    assert key == "1362e2b8f45fa62bd1234e0c1305cea6"
    assert result_key("ab" * 32, task="spoof", task_version="0", model=None, config={}) == key
    assert result_key("ab" * 32, task="spoof", task_version="0", model=None, config={"precision": "bfloat16"}) != key


def test_task_spec_with_options_hashes_and_pickles():
    import pickle
    from types import MappingProxyType

    spec = TaskSpec("spoof", resolve_task("spoof"), options=MappingProxyType({"precision": "bfloat16"}))
    assert spec.options == {"precision": "bfloat16"} and type(spec.options) is dict
    assert hash(spec) == hash(TaskSpec("spoof", resolve_task("spoof")))  # options are not hashed
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_analyze_task_hands_precision_to_the_detector(monkeypatch):
    from avsync import pipeline
    from avsync.evaluation.tasks import get_task

    seen = {}
    monkeypatch.setattr(pipeline.Detector, "from_pretrained", classmethod(lambda cls, **kw: seen.update(kw) or object()))
    NamedTask("analyze")(None, device="cpu", precision="bfloat16")
    assert seen == {"device": "cpu", "precision": "bfloat16"}
    with pytest.raises(ConfigError, match="task 'sync' takes no option 'precision'"):
        get_task("sync").factory(None, precision="bfloat16")
    with pytest.raises(ConfigError) as bad:  # the hint names what the task does take
        get_task("spoof").factory(None, vda=False)
    assert bad.value.hint == "task 'spoof' takes precision, vad, min_duration_s, aggregation"
    with pytest.raises(ConfigError) as bad:
        get_task("sync").factory(None, precision="bfloat16")
    assert bad.value.hint == "task 'sync' takes no options"


def test_retry_errors(corpus, tmp_path):
    f = tmp_path / "x_boom.wav"
    f.write_bytes((corpus / "call_02.wav").read_bytes())
    out = tmp_path / "r.jsonl"
    run_batch([str(f)], out, task=CONTENT, jobs=0, progress=False)
    assert run_batch([str(f)], out, task=CONTENT, jobs=0, progress=False).processed == 0
    assert run_batch([str(f)], out, task=CONTENT, jobs=0, progress=False, retry_errors=True).processed == 1


def test_summary_function(corpus, tmp_path):
    out = tmp_path / "r.jsonl"
    run_batch(corpus, out, task=CONTENT, jobs=0, progress=False)
    s = summarize(out, slowest=3)
    final = final_records(read_results(out))
    labels = [r["label"] for r in final.values()]
    assert s.total == N_WAV + 2 and s.by_status == {"ok": N_WAV + 2}
    assert s.by_label == {k: labels.count(k) for k in set(labels)}
    assert len(s.slowest) == 3 and s.slowest[0].seconds >= s.slowest[-1].seconds
    assert BatchSummary.from_dict(s.to_dict()) == s
    # read afterwards, the file's inputs count as scored (no run to count as "now" or "earlier")
    assert s.scored + s.reused == N_WAV + 2 and s.scored > 0 and s.processed == 0
    head = f"{N_WAV + 2} inputs: {s.scored} scored" + (f", {s.reused} copied from identical files" if s.reused else "")
    assert format_summary(s).splitlines()[0] == head
    run = run_batch(corpus, out, task=CONTENT, jobs=0, progress=False)
    assert run.scored is None and "already done by earlier runs" in format_summary(run)


def test_task_resolution(tmp_path):
    from avsync.evaluation.tasks import get_task

    assert resolve_task("inspect") is get_task("inspect").factory  # a module-level function: sent as is
    with pytest.raises(ConfigError, match="unknown task"):
        resolve_task("no-such-task")
    assert resolve_task("batch_tasks:content_factory") is batch_tasks.content_factory
    with pytest.raises(ConfigError, match="cannot load task factory"):
        resolve_task("batch_tasks:nope")
    with pytest.raises(ConfigError, match="takes no model"):
        run_batch([__file__], tmp_path / "r.jsonl", task="inspect", model="m", jobs=0, progress=False)


def test_task_options_reach_the_task_and_the_resume_key(tmp_path):
    from avsync.training import spoof_data as sd

    speech = sd.tts_espeak("The birch canoe slid on the smooth planks.", np.random.default_rng(0))
    if speech is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng; scripts/setup.sh does)")
    wav = tmp_path / "call.wav"
    write_audio(wav, speech, sd.SR)
    out = tmp_path / "r.jsonl"
    common = dict(task="spoof", model="lcnn-spoof", jobs=0, progress=False)
    assert run_batch([str(wav)], out, config={"precision": "bfloat16"}, **common).processed == 1
    assert run_batch([str(wav)], out, config={"precision": "bfloat16"}, **common).processed == 0  # resumed
    assert run_batch([str(wav)], out, **common).processed == 1  # another precision: another result
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["result"]["precision"] for r in lines] == ["bfloat16", "float32"]
    assert all(r["status"] == "ok" and r["score"] is not None for r in lines)


@pytest.mark.parametrize("jobs", [0, 1])
def test_task_without_the_option_is_refused_before_any_worker_starts(corpus, tmp_path, monkeypatch, jobs):
    builds = tmp_path / "builds.txt"
    monkeypatch.setenv(batch_tasks.BUILDS_FILE_ENV, str(builds))
    for task in ("inspect", "sync", CONTENT):
        with pytest.raises(ConfigError, match="takes no option 'precision'"):
            run_batch([str(corpus / "call_00.wav")], tmp_path / "r.jsonl", task=task, jobs=jobs, progress=False,
                      config={"precision": "bfloat16"})
    assert not builds.exists()  # refused in the driver: no task was built
    assert not (tmp_path / "r.jsonl").exists() or (tmp_path / "r.jsonl").read_text() == ""


def test_task_that_cannot_be_built_stops_with_config_error(corpus, tmp_path):
    spec = TaskSpec("broken", batch_tasks.broken_factory)
    with pytest.raises(ConfigError, match="cannot load the model"):
        run_batch([str(corpus / "call_00.wav")], tmp_path / "r.jsonl", task=spec, jobs=1, progress=False)


# -- engines agree -------------------------------------------------------------------------------------


def test_duplicate_that_waited_for_its_original_is_written_clean(corpus, tmp_path):
    # the copy comes right after its original, which is still being scored (slow task) when the copy is
    # prepared: the copy waits and is written from the original's result, like a copy found afterwards
    files = [str(corpus / "call_00.wav"), str(corpus / "sub" / "copy_of_call_00.wav")]
    run_batch(files, tmp_path / "w.jsonl", task=CONTENT, model="slow:0.3", jobs=1, progress=False)
    run_batch(files, tmp_path / "s.jsonl", task=CONTENT, model="slow:0.3", jobs=0, progress=False)
    lines = list(read_results(tmp_path / "w.jsonl"))
    assert [k for r in lines for k in r if k.startswith("_")] == []  # no bookkeeping field leaks out
    assert lines[1]["reused_from"] == files[0] and lines[1]["worker"] is None
    assert _final(tmp_path / "w.jsonl") == _final(tmp_path / "s.jsonl")


def test_local_parallel_equals_inprocess(corpus, tmp_path):
    run_batch(corpus, tmp_path / "a.jsonl", task=CONTENT, jobs=0, progress=False)
    run_batch(corpus, tmp_path / "b.jsonl", task=CONTENT, jobs=2, progress=False)
    a, b = _final(tmp_path / "a.jsonl"), _final(tmp_path / "b.jsonl")
    assert a == b and len(a) == N_WAV + 2


def test_ray_engine_matches_local(corpus, broken, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'avsync[ray]')")
    files = [i.path for i in discover_inputs(corpus)] + [i.path for i in discover_inputs(broken)]
    spec = TaskSpec("inspect", resolve_task("inspect"), version="1")
    local = run_batch(files, tmp_path / "local.jsonl", task=spec, jobs=2, progress=False)
    # actors must import avsync and the test tasks: a local instance inherits this environment
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_batch(files, tmp_path / "ray.jsonl", task=spec, jobs=2, engine="ray", progress=False)
        run_batch(corpus, tmp_path / "ray_content.jsonl", task=CONTENT, jobs=2, engine="ray", progress=False)
        if not ray.cluster_resources().get("GPU"):
            with pytest.raises(ConfigError, match="has no GPU"):
                run_batch(files[:1], tmp_path / "gpu.jsonl", task=spec, engine="ray", device="cuda", progress=False)
    finally:
        ray.shutdown()
    assert _final(tmp_path / "ray.jsonl") == _final(tmp_path / "local.jsonl")
    assert remote.by_status == local.by_status and remote.total == len(files)
    assert {r["engine"] for r in read_results(tmp_path / "ray.jsonl") if r["worker"]} == {"ray"}
    run_batch(corpus, tmp_path / "local_content.jsonl", task=CONTENT, jobs=0, progress=False)
    assert _final(tmp_path / "ray_content.jsonl") == _final(tmp_path / "local_content.jsonl")


# -- CLI --------------------------------------------------------------------------------------------------


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "avsync_cli.main", "batch", *args], env=_env(), check=False,
                          capture_output=True, text=True, timeout=120, **kw)


def test_cli_progress_on_stderr_json_on_stdout(broken, tmp_path):
    out = tmp_path / "r.jsonl"
    proc = _cli(str(broken), "--out", str(out), "--task", "inspect", "--jobs", "1", "--json")
    assert proc.returncode == 1, proc.stderr  # a truncated file failed
    summary = json.loads(proc.stdout)  # the progress bar went to stderr only
    assert summary["total"] == 6 and summary["by_status"]["decode_error"] == 2  # truncated.mp4, photo.wav
    assert {os.path.basename(f["path"]) for f in summary["failures"]} == {"truncated.mp4", "photo.wav", "zero.mp4"}
    assert "files/h" in proc.stderr and "avsync batch" in proc.stderr
    text = _cli(str(broken), "--out", str(out), "--task", "inspect", "--no-progress")
    assert "6 already done" in text.stdout and text.stderr == ""
    bad = _cli(str(broken), "--out", str(tmp_path / "x.jsonl"), "--task", "nonsense")
    assert bad.returncode == 2 and "unknown task 'nonsense'" in bad.stderr and bad.stdout == ""
    import torch

    if not torch.cuda.is_available():  # a device the machine lacks: said before an empty results file is made
        gpu = _cli(str(broken), "--out", str(tmp_path / "gpu.jsonl"), "--task", "inspect", "--device", "cuda")
        assert gpu.returncode == 2 and "no CUDA device" in gpu.stderr and not (tmp_path / "gpu.jsonl").exists()


def _slow_batch(corpus: Path, out: Path, lines: int, **popen) -> tuple[list[str], subprocess.Popen, float]:
    """A CLI batch of the slow test task over ``corpus``, once ``out`` holds ``lines`` lines: its arguments, the
    process and the deadline of the waiting."""
    args = [str(corpus), "--out", str(out), "--task", "batch_tasks:content_factory", "--model", "slow:0.25",
            "--jobs", "1", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "avsync_cli.main", "batch", *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < lines):
        time.sleep(0.05)
    return args, proc, deadline


def test_cli_killed_midway_then_resumed(corpus, tmp_path):
    out = tmp_path / "r.jsonl"
    args, proc, deadline = _slow_batch(corpus, out, 3, start_new_session=True)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, workers included, dies at once
    proc.wait(timeout=30)
    n_before = out.read_bytes().count(b"\n")
    assert 3 <= n_before < N_WAV + 2
    # stopped again on the rerun: exit 130, no torn line, done files kept
    proc = subprocess.Popen([sys.executable, "-m", "avsync_cli.main", "batch", *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while time.monotonic() < deadline and out.read_bytes().count(b"\n") < n_before + 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # as a cluster scheduler would; Ctrl-C takes the same path
    assert proc.wait(timeout=30) == 130
    assert out.read_bytes().endswith(b"\n")
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert len(read_results(out)) == N_WAV + 2
    ref = tmp_path / "ref.jsonl"
    run_batch(corpus, ref, task=TaskSpec("batch_tasks:content_factory", batch_tasks.content_factory, "slow:0.25"),
              jobs=0, progress=False)
    assert _final(out) == _final(ref)


@pytest.mark.shared
def test_shared_media_manifest_matches_inspect(shared, shared_manifest, tmp_path):
    """A manifest of real ../shared media (every container kind): batch statuses equal inspect_media's."""
    from avsync import inspect_media

    by_ext: dict[str, str] = {}
    for row in shared_manifest:
        by_ext.setdefault(Path(row["file"]).suffix.lower(), row["file"])
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,kind\n" + "".join(f"{shared / 'data' / f},{Path(f).suffix}\n" for f in by_ext.values()))
    summary = run_batch(manifest, tmp_path / "r.jsonl", task="inspect", jobs=2, progress=False)
    final = final_records(read_results(tmp_path / "r.jsonl"))
    assert summary.total == len(by_ext) >= 5
    for path, rec in final.items():
        info = inspect_media(path)
        assert rec["status"] == info.status.value and rec["sha256"] == info.sha256, path
        assert rec["meta"] == {"kind": Path(path).suffix}


def test_tasks_resolve_through_the_evaluation_registry_when_present(monkeypatch, tmp_path):
    """Task names come from avsync.evaluation.tasks (here a stand-in registry)."""
    import types

    from avsync.batch.tasks import task_version

    fake = types.ModuleType("avsync.evaluation.tasks")

    class Task:
        def __init__(self, factory, version):
            self.factory, self.version = factory, version

    def get_task(name):
        if name == "spoof":  # the registry's built-ins are closures, which do not pickle
            return Task(lambda model: batch_tasks.content_factory(model), "3")
        raise ConfigError(f"unknown task {name!r}")

    fake.get_task = get_task
    fake.task_names = lambda: ["analyze", "spoof", "sync"]
    monkeypatch.setitem(sys.modules, "avsync.evaluation.tasks", fake)
    assert resolve_task("spoof") == NamedTask("spoof") and task_version("spoof") == "3"
    with pytest.raises(ConfigError, match="unknown task"):
        resolve_task("nope")
    wav = tmp_path / "a.wav"
    write_audio(wav, np.zeros(800, np.float32), 8000)
    s = run_batch([str(wav)], tmp_path / "r.jsonl", task="spoof", jobs=0, progress=False)
    (rec,) = read_results(tmp_path / "r.jsonl")
    assert s.by_status == {"ok": 1} and rec["task"] == "spoof" and rec["task_version"] == "3"
    assert 0 <= rec["score"] <= 1


def test_cli_precision_option(corpus, tmp_path):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    wav = str(corpus / "call_00.wav")
    r = CliRunner().invoke(cli, ["batch", wav, "-o", str(tmp_path / "a.jsonl"), "--task", "inspect",
                                 "--precision", "bfloat16", "-j", "0", "--no-progress"])
    assert r.exit_code == 2 and "takes no option 'precision'" in r.output
    r = CliRunner().invoke(cli, ["batch", wav, "-o", str(tmp_path / "b.jsonl"), "--task", "spoof",
                                 "--precision", "half"])
    assert r.exit_code == 2 and "'half' is not one of" in r.output
    r = CliRunner().invoke(cli, ["batch", wav, "-o", str(tmp_path / "c.jsonl"), "--task", "spoof", "--model",
                                 "lcnn-spoof", "--precision", "bfloat16", "-j", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "c.jsonl").read_text())
    assert rec["result"]["precision"] == "bfloat16"  # status no_speech on this noise, precision recorded all the same


@pytest.mark.parametrize("jobs", [0, 1])
def test_progress_inside_a_file_reaches_the_batch_bar(corpus, tmp_path, jobs):
    """A task that reports progress inside a file (analyze, spoof) shows it in the batch progress bar."""
    from avsync.batch.engines import InProcessEngine, LocalEngine

    seen = []

    def spy(cls):
        class Spy(cls):
            @property
            def on_progress(self):
                return self._cb

            @on_progress.setter
            def on_progress(self, cb):
                self._cb = None if cb is None else (lambda job, f: (seen.append((job.path, f)), cb(job, f)))
        return Spy

    eng = spy(InProcessEngine)() if jobs == 0 else spy(LocalEngine)(jobs)
    files = sorted(corpus.glob("call_0*.wav"))[:2]
    s = run_batch(files, tmp_path / "r.jsonl", task="batch_tasks:progress_factory", engine=eng, progress=True)
    assert s.failed == 0
    assert {os.path.basename(p) for p, _ in seen} == {f.name for f in files}
    assert all(0.0 < f <= 1.0 for _, f in seen) and any(f == 1.0 for _, f in seen)


@pytest.mark.parametrize("model,match", [("nosuch", "unknown spoof model"), ("aasist", "not found")])
def test_a_voice_model_that_cannot_load_stops_the_batch_once(corpus, tmp_path, model, match, monkeypatch):
    """Reported once before any file, exit 2 (docs/batch.md): not one model_error line per file of the batch."""
    from avsync_cli.main import cli
    from click.testing import CliRunner

    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(cli, ["batch", str(corpus), "-o", str(out), "--task", "spoof", "--model", model,
                                 "--no-progress"])
    assert r.exit_code == 2 and match in r.output, r.output
    assert not out.exists() or not out.read_text().strip()


def test_the_summary_names_the_default_model_its_lines_record(corpus, tmp_path):
    from avsync.spoof import DEFAULT_MODEL

    s = run_batch([str(corpus / "call_00.wav")], tmp_path / "r.jsonl", task="spoof", jobs=0, progress=False)
    assert s.model == DEFAULT_MODEL and read_results(tmp_path / "r.jsonl")[0]["model"] == DEFAULT_MODEL


def test_interrupts_are_held_while_a_stopped_run_tidies_up():
    """A second Ctrl-C (or `timeout`, which signals twice) while a stopped run writes its summary is noted, not
    raised; the handlers before are restored after."""
    from avsync.batch.runner import held_interrupts

    def handled(seen: list[int], n: int) -> None:
        """Wait until the handler has noted ``n`` signals: pending signals of one kind merge into one, so each is
        sent only after the one before it was handled (the handlers run between bytecodes, later on a busy machine)."""
        t0 = time.monotonic()
        while len(seen) < n and time.monotonic() - t0 < 5.0:
            time.sleep(0.01)

    # Python's own Ctrl-C handler to start from, whatever earlier tests left, and each signal raised in this (the
    # main) thread, not sent to the process for any of its threads to take (the test failed twice in full suites,
    # never alone)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    with held_interrupts() as seen:
        signal.raise_signal(signal.SIGINT)
        handled(seen, 1)
        signal.raise_signal(signal.SIGTERM)
        handled(seen, 2)
    assert seen == [signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt), held_interrupts() as insisted:  # a hung tidy-up: the third one ends it
        for i in range(3):
            signal.raise_signal(signal.SIGINT)
            handled(insisted, i + 1)
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.05)


def test_cli_stopped_twice_still_ends_with_its_summary_and_exit_130(corpus, tmp_path):
    out = tmp_path / "r.jsonl"
    _, proc, _ = _slow_batch(corpus, out, 2, text=True)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Aborted" not in stderr and "STOPPED EARLY" in stdout, (stdout, stderr)
    assert out.read_bytes().endswith(b"\n")


def test_a_manifest_rerun_writes_no_second_line_for_a_file_still_missing_and_counts_repeated_rows(corpus, tmp_path):
    """A manifest naming a missing file got one more `not_found` line on every rerun; a path named twice was listed
    once without a word. Now the missing file's line stands until the file appears, and the summary counts repeats."""
    wavs = sorted(str(p) for p in corpus.glob("*.wav"))[:2]
    manifest = tmp_path / "m.csv"
    missing = tmp_path / "gone.wav"
    manifest.write_text("path,id\n" + f"{wavs[0]},a\n{missing},b\n{wavs[0]},dup\n{wavs[1]},c\n{wavs[0]},dup2\n")
    out = tmp_path / "r.jsonl"
    first = run_batch(manifest, out, task="inspect", jobs=0, progress=False)
    assert first.inputs == 3 and first.repeated == 1 and "1 repeated path listed once" in format_summary(first)
    assert first.unscored == 1 and first.to_dict()["unscored"] == 1  # the missing file, in --json too
    assert [r["status"] for r in read_results(out)].count("not_found") == 1
    again = run_batch(manifest, out, task="inspect", jobs=0, progress=False)
    assert len(read_results(out)) == 3 and again.resumed == 3 and again.repeated == 1  # one path, named three times
    other = run_batch(manifest, out, task=TaskSpec("spoof_x", batch_tasks.content_factory, "m"), jobs=0, progress=False)
    assert other.by_status.get("not_found") == 1  # another task: the missing file is its finding too
    assert len(read_results(out)) == 6
    write_audio(str(missing), np.zeros(16000, np.float32), 16000)  # the file appears: read on the next run
    run_batch(manifest, out, task="inspect", jobs=0, progress=False)
    final = {os.path.basename(r["path"]): r["status"] for r in read_results(out)}
    inspected = [r for r in read_results(out) if r["task"] == "inspect"]
    assert len(inspected) == 4 and final["gone.wav"] == "no_video"  # inspected: an audio file
    # gone again, then back unchanged (same size and time): read again, not left at its `not_found` line
    kept = missing.with_suffix(".keep")
    os.replace(missing, kept)
    run_batch(manifest, out, task="inspect", jobs=0, progress=False)
    os.replace(kept, missing)
    run_batch(manifest, out, task="inspect", jobs=0, progress=False)
    assert final_records(out, task="inspect")[os.path.normpath(str(missing))]["status"] == "no_video"
    assert final_records(out) == final_records(read_results(out))  # the results file's path will do


def test_the_same_folder_named_three_ways_resumes_without_a_line_more(corpus, tmp_path, monkeypatch):
    """`batch calls`, `batch /abs/calls`, and `cd sub && batch ../calls` once wrote three lines per file (and the
    summary counted them as inputs copied from identical files)."""
    import shutil

    work = tmp_path / "w"
    (work / "sub").mkdir(parents=True)
    shutil.copytree(corpus, work / "calls", ignore=shutil.ignore_patterns("*.mp4"))
    out = work / "r.jsonl"
    monkeypatch.chdir(work)
    first = run_batch("calls", str(out), task=CONTENT, jobs=0, progress=False)
    n = len(read_results(out))
    assert first.total == n > 0
    again = run_batch(str(work / "calls"), str(out), task=CONTENT, jobs=0, progress=False)
    monkeypatch.chdir(work / "sub")
    third = run_batch("../calls", str(out), task=CONTENT, jobs=0, progress=False)
    assert len(read_results(out)) == n
    assert again.processed == third.processed == 0 and again.resumed == third.resumed == n
    assert third.total == n and third.pending == 0


def test_a_broken_link_in_a_folder_gets_a_line_saying_so(corpus, tmp_path):
    """A link to a recording that is gone was left out of a folder's inputs without a word."""
    import shutil

    d = tmp_path / "calls"
    d.mkdir()
    shutil.copy(corpus / "call_00.wav", d / "a.wav")
    (d / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (d / "loop.wav").symlink_to(d / "loop.wav")
    out = tmp_path / "r.jsonl"
    s = run_batch(str(d), out, task=CONTENT, jobs=0, progress=False)
    status = {os.path.basename(r["path"]): (r["status"], r["error"]) for r in read_results(out)}
    assert s.inputs == 3 and status["a.wav"][0] == "ok"
    assert status["gone.wav"][0] == status["loop.wav"][0] == "not_found"
    assert "broken symlink" in status["gone.wav"][1]
