"""End to end: ``avsync eval`` on a synthetic manifest with a test-only task."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from avsync_cli.main import cli
from click.testing import CliRunner
from eval_toy import CountingScorer, make_toy_dataset, tone_file

from avsync.evaluation import ResultCache, get_task, register_task, unregister_task
from avsync.evaluation import metrics as M
from avsync.evaluation.tasks import TaskUnavailable


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def scorer():
    sc = CountingScorer()
    register_task("toy", sc, replace=True)
    yield sc
    unregister_task("toy")


def _eval(*args):
    return CliRunner().invoke(cli, ["eval", *map(str, args)], catch_exceptions=False)


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_eval_tables_scores_plots(toy, scorer, tmp_path):
    out = tmp_path / "out"
    r = _eval(toy, "--task", "toy", "--out", out, "--n-boot", 100, "--quiet")
    assert r.exit_code == 0, r.output
    assert len(scorer.calls) == 21
    for name in ("summary.md", "summary.csv", "summary.json", "scores.csv", "scores.jsonl", "roc.png", "det.png",
                 "cache.jsonl", "run.json"):
        assert (out / name).stat().st_size > 0, name
    table = {row["set"]: row for row in _read_csv(out / "summary.csv")}
    assert set(table) == {"fake_speech/toytts/genA", "fake_speech/toytts/genB", "fake_speech/toytts",
                          "real_speech/toy", "ALL"}
    # genA (700-850 Hz) is above every real of the same speakers (380-540 Hz): perfect separation
    a = table["fake_speech/toytts/genA"]
    assert a["pairing"] == "same-group" and int(a["n_fake"]) == 4 and int(a["n_real"]) == 8
    assert float(a["eer"]) == 0.0 and float(a["auc"]) == 1.0
    # the real-only subset reports its false-positive rate at 0.5: r3 (600 Hz) and r4 (700 Hz) -> 2/5
    assert float(table["real_speech/toy"]["fpr_at_threshold"]) == pytest.approx(0.4)
    assert table["real_speech/toy"]["eer"] == ""
    # table values equal the metrics recomputed from the per-file scores
    scores = _read_csv(out / "scores.csv")
    assert len(scores) == 21 and {s["status"] for s in scores} == {"ok"}
    b = [s for s in scores if s["subset"] == "fake_speech/toytts" and (s["generator"] in ("genB", ""))]
    y = [1 if s["label"] == "fake" else 0 for s in b]
    sc = [float(s["score"]) for s in b]
    e, thr = M.eer(y, sc)
    assert float(table["fake_speech/toytts/genB"]["eer"]) == pytest.approx(e)
    assert float(table["fake_speech/toytts/genB"]["eer_threshold"]) == pytest.approx(thr)
    assert float(table["fake_speech/toytts/genB"]["auc"]) == pytest.approx(M.roc_auc(y, sc))
    assert float(table["fake_speech/toytts/genB"]["min_tdcf"]) == pytest.approx(M.min_tdcf(y, sc)[0])
    md = (out / "summary.md").read_text()
    assert "| fake_speech/toytts/genA | same-group | 4 | 8 | 0 | 0.0000 |" in md
    extra = json.loads((out / "scores.jsonl").read_text().splitlines()[0])
    assert "peak_hz" in extra and extra["label"] in ("real", "fake")


def test_rerun_reuses_cache_and_scores_only_new_files(toy, scorer, tmp_path):
    out = tmp_path / "out"
    assert _eval(toy, "--task", "toy", "--out", out, "--n-boot", 50, "--quiet").exit_code == 0
    first = (out / "summary.csv").read_text()
    n = len(scorer.calls)
    r = _eval(toy, "--task", "toy", "--out", out, "--n-boot", 50, "--quiet")
    assert r.exit_code == 0 and len(scorer.calls) == n  # nothing recomputed
    assert "reused 21 cached" in r.output
    assert (out / "summary.csv").read_text() == first
    # another model name is another cache key
    assert _eval(toy, "--task", "toy", "--model", "other", "--out", out, "--n-boot", 50, "--quiet").exit_code == 0
    assert len(scorer.calls) == 2 * n
    # a new file in the manifest: only it is scored
    root = toy.parent
    tone_file(root / "real_speech/toy/new.wav", 333, seed=99)
    man2 = root / "manifest2.csv"
    man2.write_text(toy.read_text() + "real_speech/toy/new.wav,real,real_speech,new,,,\n")
    assert _eval(man2, "--task", "toy", "--out", out, "--n-boot", 50, "--quiet").exit_code == 0
    assert len(scorer.calls) == 2 * n + 1 and scorer.calls[-1].endswith("new.wav")


def test_precision_reaches_the_task_and_the_cache_key(toy, scorer, tmp_path):
    built = []

    def factory(model, precision="float32"):
        built.append(precision)
        return scorer

    register_task("toy_prec", factory=factory, replace=True)
    try:
        out = tmp_path / "out"
        for precision, scored in (("bfloat16", 21), ("bfloat16", 0), ("float32", 21)):
            n = len(scorer.calls)
            r = _eval(toy, "--task", "toy_prec", "--precision", precision, "--out", out, "--n-boot", 20, "--json")
            assert r.exit_code == 0, r.output
            assert len(scorer.calls) - n == scored  # a precision is cached apart from the other
        assert built == ["bfloat16", "float32"]  # the cached rerun never built the task
        recs = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
        assert {json.dumps(x["options"]) for x in recs} == {"{}"}  # float32 is the default: no option, same cache
        n = len(scorer.calls)
        assert _eval(toy, "--task", "toy_prec", "--out", out, "--n-boot", 20, "--quiet").exit_code == 0
        assert len(scorer.calls) == n
        # a task without the option refuses it before scoring anything
        r = _eval(toy, "--task", "toy", "--precision", "bfloat16", "--out", tmp_path / "o2", "--quiet")
        assert r.exit_code == 2 and "takes no option 'precision'" in r.output
        assert _eval(toy, "--task", "toy", "--precision", "half", "--out", tmp_path / "o3").exit_code == 2
    finally:
        unregister_task("toy_prec")


def _reference_intervals(real: list[float], fake: list[float], n: int, seed: int, thr: float) -> tuple:
    """The voice-model benchmark's bootstrap (benchmarks/spoof_model_eval.py): per replicate the reals, then the
    fakes, resampled with replacement from one seeded generator; 2.5 / 97.5 percentiles."""
    rng = np.random.default_rng(seed)
    r, f = np.asarray(real), np.asarray(fake)
    vals = []
    for _ in range(n):
        rr, ff = r[rng.integers(0, r.size, r.size)], f[rng.integers(0, f.size, f.size)]
        vals.append(M.eer(np.r_[np.zeros(rr.size), np.ones(ff.size)], np.r_[rr, ff])[0])
    rng = np.random.default_rng(seed)
    fprs = [np.mean(r[rng.integers(0, r.size, r.size)] >= thr) for _ in range(n)]
    return tuple(np.percentile(vals, [2.5, 97.5])), tuple(np.percentile(fprs, [2.5, 97.5]))


def test_eer_and_fpr_intervals_and_group_rows(toy: Path, scorer: CountingScorer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = _eval(toy, "--task", "toy", "--out", out, "--n-boot", 200, "--seed", 3, "--by-group", "--quiet")
    assert r.exit_code == 0, r.output
    rows = _read_csv(out / "summary.csv")
    table = {row["set"]: row for row in rows}
    # one row per speaker of the fake subset (genA + genB of that speaker vs its ground truth), between the
    # generator rows and the pooled subset row
    assert [row["set"] for row in rows] == [
        "fake_speech/toytts/genA", "fake_speech/toytts/genB", *[f"fake_speech/toytts[s{i}]" for i in range(1, 5)],
        "fake_speech/toytts", "real_speech/toy", "ALL"]
    s2 = table["fake_speech/toytts[s2]"]
    assert s2["pairing"] == "same-group" and (int(s2["n_fake"]), int(s2["n_real"])) == (2, 2)
    scores = {s["id"]: float(s["score"]) for s in _read_csv(out / "scores.csv")}
    fakes = [v for k, v in scores.items() if k.startswith("fake_speech/toytts/gen") and "s2_" in k]
    reals = [v for k, v in scores.items() if k.startswith("fake_speech/toytts/GT/s2_")]
    assert float(s2["eer"]) == pytest.approx(M.eer([1] * 2 + [0] * 2, fakes + reals)[0])
    # the intervals are the benchmark's bootstrap, computed over the rows in manifest order
    b = table["fake_speech/toytts/genB"]
    real = [v for k, v in scores.items() if k.startswith("fake_speech/toytts/GT/")]
    fake = [v for k, v in scores.items() if k.startswith("fake_speech/toytts/genB/")]
    (elo, ehi), (flo, fhi) = _reference_intervals(real, fake, 200, 3, 0.5)
    assert (float(b["eer_low"]), float(b["eer_high"])) == pytest.approx((elo, ehi))
    assert (float(b["fpr_low"]), float(b["fpr_high"])) == pytest.approx((flo, fhi))
    assert float(b["eer_low"]) <= float(b["eer"]) <= float(b["eer_high"]) and float(b["eer_high"]) > float(b["eer_low"])
    toy_real = table["real_speech/toy"]  # 2 of 5 called fake
    assert float(toy_real["fpr_low"]) <= 0.4 <= float(toy_real["fpr_high"]) and toy_real["eer_low"] == ""
    # without --by-group: no group rows; --n-boot 0: no EER / FPR intervals
    r = _eval(toy, "--task", "toy", "--out", out, "--n-boot", 0, "--json")
    sets = {row["set"]: row for row in json.loads(r.output)["table"]}
    assert not any("[" in k for k in sets) and not {"eer_low", "auc_low", "fpr_low"} & set(sets["ALL"])


def test_task_options_reach_the_factory_and_the_cache_key(toy: Path, scorer: CountingScorer, tmp_path: Path) -> None:
    built = []

    def factory(model: str | None, vad: bool = True, window_s: float = 4.0) -> CountingScorer:
        built.append((vad, window_s))
        return scorer

    register_task("toy_opt", factory=factory, replace=True)
    try:
        out = tmp_path / "out"
        for opts, scored in ((["vad=false", "window_s=2"], 21), (["window_s=2", "vad=false"], 0), ([], 21)):
            n = len(scorer.calls)
            args = [a for o in opts for a in ("--option", o)]
            r = _eval(toy, "--task", "toy_opt", *args, "--out", out, "--n-boot", 10, "--quiet")
            assert r.exit_code == 0, r.output
            assert len(scorer.calls) - n == scored  # the options are part of the cache key, in any order
        assert built == [(False, 2), (True, 4.0)]
        assert json.loads((out / "run.json").read_text())["config"]["options"] == {}
        r = _eval(toy, "--task", "toy", "--option", "vad=false", "--out", tmp_path / "o2", "--quiet")
        assert r.exit_code == 2 and "takes no option 'vad'" in r.output
        for bad, msg in (("vad", "KEY=VALUE"), ("1x=2", "KEY=VALUE"), ("precision=bfloat16", "--precision")):
            r = _eval(toy, "--task", "toy_opt", "--option", bad, "--out", tmp_path / "o3", "--quiet")
            assert r.exit_code == 2 and msg in r.output, r.output
        r = _eval(toy, "--task", "toy_opt", "--option", "vad=1", "--option", "vad=2", "--out", tmp_path / "o3")
        assert r.exit_code == 2 and "twice" in r.output
    finally:
        unregister_task("toy_opt")


def test_subset_filter_scores_paired_reals_only(toy, scorer, tmp_path):
    out = tmp_path / "out"
    r = _eval(toy, "--task", "toy", "--out", out, "--subset", "fake_speech/toytts/genA", "--json", "--n-boot", 50)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    sets = [row["set"] for row in data["table"]]
    assert sets == ["fake_speech/toytts/genA", "ALL"]
    # 4 fakes + the 8 ground-truth files of the same speakers; real_speech/toy is not touched
    assert len(scorer.calls) == 12 and not any("real_speech" in c for c in scorer.calls)
    assert data["table"][-1]["pairing"] == "same-group"


def test_limit_also_caps_the_paired_reals(toy, scorer, tmp_path):
    r = _eval(toy, "--task", "toy", "--out", tmp_path / "out", "--subset", "fake_speech/toytts/genA", "--limit", 2,
              "--json", "--n-boot", 20)
    assert r.exit_code == 0, r.output
    assert len(scorer.calls) == 4  # 2 fakes and 2 of their 8 paired real files, not all of them


def test_a_folder_row_is_not_found_not_an_internal_error(toy, scorer, tmp_path):
    (tmp_path / "adir").mkdir()
    m = tmp_path / "m.csv"
    m.write_text(f"path,label\n{tmp_path / 'adir'},real\n{toy.parent / 'real_speech/toy/r0.wav'},real\n")
    r = _eval(m, "--task", "toy", "--out", tmp_path / "out", "--n-boot", 20, "--quiet")
    assert r.exit_code == 0, r.output
    rows = {Path(s["path"]).name: s for s in _read_csv(tmp_path / "out" / "scores.csv")}
    assert rows["adir"]["status"] == "not_found" and rows["adir"]["message"] == "a folder, not a file"


def test_model_errors_are_retried(toy, tmp_path):
    from avsync.errors import BundleError

    calls = []

    def flaky(path):
        calls.append(path)
        raise BundleError("weights missing")

    register_task("toy_bundle", flaky, replace=True)
    try:
        out = tmp_path / "out"
        _eval(toy, "--task", "toy_bundle", "--out", out, "--quiet", "--subset", "real_speech/toy")
        assert len(calls) == 5 and {s["status"] for s in _read_csv(out / "scores.csv")} == {"model_error"}
        _eval(toy, "--task", "toy_bundle", "--out", out, "--quiet", "--subset", "real_speech/toy")
        assert len(calls) == 10  # not cached
    finally:
        unregister_task("toy_bundle")


def test_failures_are_counted_and_not_cached(toy, tmp_path):
    sc = CountingScorer(fail_on="s2_1")
    register_task("toy_fail", sc, replace=True)
    try:
        out = tmp_path / "out"
        r = _eval(toy, "--task", "toy_fail", "--out", out, "--n-boot", 50, "--quiet")
        assert r.exit_code == 0
        table = {row["set"]: row for row in _read_csv(out / "summary.csv")}
        assert int(table["fake_speech/toytts/genA"]["n_failed"]) == 1
        assert int(table["fake_speech/toytts/genA"]["n_fake"]) == 3
        bad = [s for s in _read_csv(out / "scores.csv") if s["status"] != "ok"]
        assert len(bad) == 2 and all("boom" in s["message"] for s in bad)
        n = len(sc.calls)
        _eval(toy, "--task", "toy_fail", "--out", out, "--n-boot", 50, "--quiet")
        assert len(sc.calls) == n + 2  # only the failed files were retried
    finally:
        unregister_task("toy_fail")


def test_builtin_tasks_unavailable_say_so(toy, tmp_path, monkeypatch):
    """A build without a feature's module (a None entry in sys.modules makes its import fail, as a missing one
    would) says so, exits 1 and caches nothing."""
    from avsync.evaluation.tasks import _BUILTINS

    assert {"spoof", "sync", "analyze", "artefacts"} <= set(_BUILTINS)
    for name, (module, _, _) in _BUILTINS.items():
        with monkeypatch.context() as m:
            m.setitem(sys.modules, module, None)
            with pytest.raises(TaskUnavailable, match=f"task '{name}' needs {module}, not installed in this build"):
                get_task(name).factory(None)
            r = _eval(toy, "--task", name, "--out", tmp_path / name, "--quiet")
            assert r.exit_code == 1
            assert r.output.strip() == f"error: task '{name}' needs {module}, not installed in this build"
            assert not (tmp_path / name / "cache.jsonl").exists()  # nothing cached against the missing task
    r = _eval(toy, "--task", "nope", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "unknown task 'nope'" in r.output


def test_perturbations_report_metric_change(toy, scorer, tmp_path):
    out = tmp_path / "out"
    r = _eval(toy, "--task", "toy", "--out", out, "--perturbations", "mulaw8k,mp3_32k", "--n-boot", 50, "--quiet")
    assert r.exit_code == 0, r.output
    rob = _read_csv(out / "robustness.csv")
    assert {x["perturbation"] for x in rob} == {"mulaw8k", "mp3_32k"}
    allrow = next(x for x in rob if x["set"] == "ALL" and x["perturbation"] == "mulaw8k")
    clean = {row["set"]: row for row in _read_csv(out / "summary.csv")}["ALL"]
    assert float(allrow["delta_auc"]) == pytest.approx(float(allrow["auc"]) - float(clean["auc"]))
    assert int(allrow["n_files_changed"]) == 21
    perturbed = [c for c in scorer.calls if "perturbed" in c]
    assert len(perturbed) == 42 and any(c.endswith(".wav") for c in perturbed) and any(c.endswith(".mp3") for c in perturbed)
    n = len(scorer.calls)
    assert _eval(toy, "--task", "toy", "--out", out, "--perturb", "--perturbations", "mulaw8k",
                 "--quiet").exit_code == 0
    assert len(scorer.calls) == n  # clean and mulaw8k results both cached
    assert _eval(toy, "--task", "toy", "--out", out, "--perturbations", "bogus").exit_code == 2
    assert (out / "robustness.csv").exists()
    assert _eval(toy, "--task", "toy", "--out", out, "--quiet").exit_code == 0  # no --perturb this time
    assert not (out / "robustness.csv").exists() and not (out / "robustness.md").exists()


def test_trim_silence_option(tmp_path):
    root = tmp_path / "d"
    tone_file(root / "a/x/real.wav", 400, seed=1, lead_silence_s=1.0)
    tone_file(root / "a/x/fake.wav", 800, seed=2, lead_silence_s=0.0)
    (root / "m.jsonl").write_text('{"path": "a/x/real.wav", "label": "real"}\n{"path": "a/x/fake.wav", "label": "fake"}\n')
    sc = CountingScorer()
    register_task("toy_trim", sc, replace=True)
    try:
        r = _eval(root / "m.jsonl", "--task", "toy_trim", "--out", tmp_path / "o", "--trim-silence", "--json")
        assert r.exit_code == 0, r.output
        recs = [json.loads(x) for x in (tmp_path / "o" / "scores.jsonl").read_text().splitlines()]
        real = next(x for x in recs if x["id"] == "a/x/real.wav")
        assert "trimmed" in real["scored_path"]
        t0, t1 = real["trimmed_s"]
        assert t0 == pytest.approx(0.95, abs=0.03) and t1 == pytest.approx(1.65, abs=0.03)
        assert real["duration_s"] == pytest.approx(t1 - t0, abs=0.01)
        fake = next(x for x in recs if x["id"] == "a/x/fake.wav")
        assert fake["scored_path"].endswith("fake.wav")  # nothing to trim: scored as is
    finally:
        unregister_task("toy_trim")


def test_cache_ignores_torn_lines(tmp_path):
    c = ResultCache(tmp_path / "cache.jsonl")
    c.put("k1", {"score": 0.5, "status": "ok"})
    with open(tmp_path / "cache.jsonl", "a") as fh:
        fh.write('{"key": "k2", "score": 0.')  # a run killed mid-line
    c2 = ResultCache(tmp_path / "cache.jsonl")
    assert c2.get("k1")["score"] == 0.5 and c2.get("k2") is None and len(c2) == 1
    k = ResultCache.make_key("ab" * 32, "spoof", "0", None, {})
    assert k != ResultCache.make_key("ab" * 32, "spoof", "0", "m", {})
    assert k != ResultCache.make_key("ab" * 32, "spoof", "0", None, {"perturbation": "aac64k"})


def test_cache_is_keyed_on_the_weights_behind_the_task(toy, tmp_path, monkeypatch):
    """A result scored with other weights under the same task and model name is not reused."""
    import avsync.evaluation.harness as harness
    from avsync.evaluation.tasks import task_models

    assert task_models("inspect") == {} and task_models("silence") == {}
    scorer = CountingScorer()
    register_task("toy_w", scorer, replace=True)
    try:
        out = tmp_path / "out"
        args = (toy, "--task", "toy_w", "--out", out, "--quiet", "--subset", "real_speech/toy")
        monkeypatch.setattr(harness, "task_models", lambda name, model=None: {"voice": "v 11"})
        _eval(*args)
        n = len(scorer.calls)
        _eval(*args)
        assert len(scorer.calls) == n  # the same weights: cached
        monkeypatch.setattr(harness, "task_models", lambda name, model=None: {"voice": "v 22"})
        _eval(*args)
        assert len(scorer.calls) == 2 * n  # new weights: scored again
    finally:
        unregister_task("toy_w")


def test_scores_keep_the_truth_and_the_tasks_own_label_apart(toy, tmp_path):
    """scores.jsonl once wrote the manifest's truth over the task's label: the share undetermined could not be read."""
    def verdict(path):
        return {"status": "ok", "score": 0.6, "label": "undetermined"}

    register_task("toy_label", verdict, replace=True)
    try:
        out = tmp_path / "out"
        assert _eval(toy, "--task", "toy_label", "--out", out, "--quiet").exit_code == 0
        recs = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
        assert {r["predicted_label"] for r in recs} == {"undetermined"} and {r["label"] for r in recs} == {"real", "fake"}
        assert {r["predicted_label"] for r in _read_csv(out / "scores.csv")} == {"undetermined"}
    finally:
        unregister_task("toy_label")


def test_register_task_validation():
    with pytest.raises(Exception, match="exactly one"):
        register_task("x")
    register_task("dup", lambda p: {"status": "ok", "score": 0.0}, replace=True)
    try:
        with pytest.raises(Exception, match="already registered"):
            register_task("dup", lambda p: {})
        assert get_task("dup").factory(None)("any")["score"] == 0.0
    finally:
        unregister_task("dup")


def test_segments_give_ap_at_iou(tmp_path):
    root = tmp_path / "d"
    rows = []
    for i in range(4):
        tone_file(root / f"s/x/f{i}.wav", 800, seed=i)
        rows.append({"path": f"s/x/f{i}.wav", "label": "fake", "segments": [[0.1, 0.4]]})
        tone_file(root / f"s/x/r{i}.wav", 400, seed=10 + i)
        rows.append({"path": f"s/x/r{i}.wav", "label": "real"})
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def seg_scorer(path):
        fake = "/f" in path
        segs = [[0.9, 0.1, 0.4]] if fake and not path.endswith("f3.wav") else [[0.2, 0.0, 0.05]]
        return {"status": "ok", "score": 0.9 if fake else 0.1, "segments": segs}

    register_task("toy_seg", seg_scorer, replace=True)
    try:
        r = _eval(root / "m.jsonl", "--task", "toy_seg", "--out", tmp_path / "o", "--json", "--n-boot", 20)
        assert r.exit_code == 0, r.output
        allrow = json.loads(r.output)["table"][-1]
        assert allrow["set"] == "ALL"
        # 3 of 4 segments found at the top of the ranking: AP = 3/4 at every IoU threshold
        assert allrow["ap_iou0.5"] == pytest.approx(0.75) and allrow["ap_iou0.95"] == pytest.approx(0.75)
    finally:
        unregister_task("toy_seg")


def test_sync_offset_accuracy(tmp_path):
    root = tmp_path / "d"
    truth = [0, 0, 2, -3, 5]
    rows = []
    for i, off in enumerate(truth):
        tone_file(root / f"av/x/c{i}.wav", 400, seed=i)
        rows.append({"path": f"av/x/c{i}.wav", "label": "real", "offset_frames": off})
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    predicted = {"c0": 0, "c1": 1, "c2": 4, "c3": -3, "c4": None}

    def sync_scorer(path):
        k = path.rsplit("/", 1)[-1][:-4]
        return {"status": "ok", "score": 0.2, "offset_frames": predicted[k]}

    register_task("toy_sync", sync_scorer, replace=True)
    try:
        r = _eval(root / "m.jsonl", "--task", "toy_sync", "--out", tmp_path / "o", "--json")
        row = json.loads(r.output)["table"][-1]
        assert row["offset_acc_pm1"] == pytest.approx(3 / 5) and row["offset_acc_exact"] == pytest.approx(2 / 5)
        assert row["n_offset"] == 5
    finally:
        unregister_task("toy_sync")


def test_offset_accuracy_of_injected_offsets_leaves_the_reals_out(tmp_path):
    """A set of shifted copies reports how well their injected offsets were found, not the originals' offsets."""
    from avsync.synth import ClipSpec, make_clip

    root = tmp_path / "d"
    (root / "av").mkdir(parents=True)
    rows = []
    for i in range(3):
        name = Path(make_clip(root / "av" / f"c{i}", ClipSpec(duration=1.0, size=(64, 48), seed=i))).name
        rows.append({"path": f"av/{name}", "label": "real", "offset_frames": 0, "subset": "real"})
        rows.append({"path": f"av/{name}", "label": "fake", "offset_frames": 5, "subset": "shifted",
                     "id": f"c{i}+5", "paired_with": f"av/{name}", "audio": "shift:+5"})
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def sync_scorer(path):  # every original reads 2 frames off (wrong), every copy at +5 (right)
        return {"status": "ok", "score": 0.9 if path.endswith(".mov") else 0.1,
                "offset_frames": 5 if path.endswith(".mov") else 2}

    register_task("toy_sync2", sync_scorer, replace=True)
    try:
        r = _eval(root / "m.jsonl", "--task", "toy_sync2", "--out", tmp_path / "o", "--json", "--n-boot", 0)
        table = {row["set"]: row for row in json.loads(r.output)["table"]}
        assert table["shifted"]["offset_acc_pm1"] == 1.0 and table["shifted"]["n_offset"] == 3
        assert table["real"]["offset_acc_pm1"] == 0.0 and table["real"]["n_offset"] == 3
    finally:
        unregister_task("toy_sync2")
    # a task that reads no offset (spoof, artefacts): no offset columns, not an accuracy of 0
    register_task("toy_voice", lambda path: {"status": "ok", "score": 0.5}, replace=True)
    try:
        r = _eval(root / "m.jsonl", "--task", "toy_voice", "--out", tmp_path / "v", "--json", "--n-boot", 0)
        assert not any("offset_acc_pm1" in row or "n_offset" in row for row in json.loads(r.output)["table"])
    finally:
        unregister_task("toy_voice")


def test_a_missing_number_is_an_empty_cell_not_nan(tmp_path):
    from avsync.evaluation.harness import write_table

    write_table([{"set": "ALL", "auc": float("nan"), "eer": 0.1}], tmp_path / "t")
    (row,) = _read_csv(tmp_path / "t.csv")
    assert row["auc"] == "" and row["eer"] == "0.1"
    assert json.loads((tmp_path / "t.json").read_text())[0]["auc"] is None
