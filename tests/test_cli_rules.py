"""Rules shared by every command (README, "Commands"): --json shape, --device default, directory and
unreadable arguments, exit codes of absence statuses."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from avsync_cli.main import COMMANDS, cli
from click.testing import CliRunner

from avsync.synth import write_audio

# commands taking FILE... and the options they need to run without downloaded weights
MULTI = {
    "inspect": [],
    "analyze": ["--spoof-model", "none", "--no-progress"],
    "spoof": ["--model", "lcnn-spoof"],
    "faces": [],
    "artefacts": [],
}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _command(name):
    return importlib.import_module(f"avsync_cli.commands.{COMMANDS[name]}").command


def test_device_defaults_to_auto_everywhere():
    with_device = [n for n in COMMANDS if any(p.name == "device" for p in _command(n).params)]
    assert {"analyze", "spoof", "artefacts", "faces"} <= set(with_device)
    for name in with_device:
        (opt,) = [p for p in _command(name).params if p.name == "device"]
        assert opt.default in ("auto", None), (name, opt.default)  # batch: None = the task's default, auto


def test_nonsense_device_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(cli, ["spoof", str(tmp_path / "x.wav"), "--device", "gpu9"])
    assert r.exit_code == 2 and "is not a device" in r.output


@pytest.mark.parametrize("name", sorted(MULTI))
def test_multi_input_commands_print_a_json_list_even_for_one_input(name, tmp_path):
    r = run(name, "--json", *MULTI[name], tmp_path / "missing.mp4")
    assert r.exit_code == 1, r.output
    (d,) = json.loads(r.output)
    assert d["status"] == "not_found" and "Traceback" not in r.output


@pytest.mark.parametrize("name", [*sorted(MULTI), "sync"])
def test_a_directory_argument_is_a_not_found_result_not_a_usage_error(name, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    r = run(name, "--json", *MULTI.get(name, []), folder)
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    d = d[0] if name in MULTI else d  # sync takes one FILE: one object
    assert d["status"] == "not_found"
    text = d.get("message") or d["reasons"][0]
    assert "is a directory" in text and "avsync batch" in text


def test_symlink_loop_and_broken_link_are_named(tmp_path):
    loop, dangling = tmp_path / "loop.mp4", tmp_path / "dangling.mp4"
    os.symlink(loop, loop)
    os.symlink(tmp_path / "gone.mp4", dangling)
    r = run("inspect", "--json", loop, dangling)
    assert r.exit_code == 1
    a, b = json.loads(r.output)
    assert a["status"] == b["status"] == "not_found"
    assert "symlink loop" in a["message"] and "file not found" not in a["message"]
    assert "broken symlink" in b["message"] and "gone.mp4" in b["message"]


def test_sync_absence_statuses_exit_0(tmp_path):
    short = write_audio(tmp_path / "short.wav", np.zeros(1600, np.float32), 16000)  # 0.1 s
    r = run("sync", "--json", short)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["status"] == "too_short"
    r = run("sync", short)
    assert r.exit_code == 0 and r.output.startswith("too_short")


def test_decode_errors_read_as_words_not_ffmpeg_codes(tmp_path):
    bad = tmp_path / "rand.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    (d,) = json.loads(run("inspect", "--json", bad).output)
    assert d["status"] == "decode_error"
    assert "[Errno" not in d["message"] and "Invalid data found" in d["message"], d["message"]


def test_analyze_reports_of_inputs_with_the_same_name_do_not_overwrite_each_other(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    quiet = np.zeros(16000, np.float32)
    a = write_audio(tmp_path / "a" / "x.wav", quiet, 16000)
    b = write_audio(tmp_path / "b" / "x.flac", quiet + 0.01, 16000, preset="flac")
    c = write_audio(tmp_path / "y.wav", quiet, 16000)
    html, csvs = tmp_path / "html", tmp_path / "csv"
    r = run("analyze", "--spoof-model", "none", "--no-progress", "--html", html, "--csv", csvs, a, b, c, a)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in html.iterdir()) == ["a_x.html", "a_x_2.html", "b_x.html", "y.html"]
    assert sorted(p.name for p in csvs.iterdir()) == ["a_x.csv", "a_x_2.csv", "b_x.csv", "y.csv"]
    # each report names its own input (by file name: a report shows no folders) and carries its sha256
    assert "x.flac" in (html / "b_x.html").read_text() and "x.flac" not in (html / "a_x.html").read_text()
    assert hashlib.sha256(Path(b).read_bytes()).hexdigest() in (html / "b_x.html").read_text()
    assert "reports named b_x" in r.output  # the renaming is said, not silent
    # a single file given where several inputs need a folder: a usage error, nothing overwritten
    single = tmp_path / "one.html"
    single.write_text("keep")
    r = CliRunner().invoke(cli, ["analyze", "--spoof-model", "none", "--html", str(single), a, c])
    assert r.exit_code == 2 and single.read_text() == "keep"
    # nor is a report's name that does not exist yet turned into a folder called "two.html"
    r = CliRunner().invoke(cli, ["analyze", "--spoof-model", "none", "--html", str(tmp_path / "two.html"), a, c])
    assert r.exit_code == 2 and "names one report" in r.output and not (tmp_path / "two.html").exists()
    # one input and an existing folder: the report goes into the folder, named after the input
    folder = tmp_path / "reports"
    folder.mkdir()
    r = run("analyze", "--spoof-model", "none", "--no-progress", "--html", folder, "--csv", folder, c)
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"{c}: ")  # the verdict is printed
    assert sorted(p.name for p in folder.iterdir()) == ["y.csv", "y.html"]
    assert "y.wav" in (folder / "y.html").read_text()


def test_inspect_lists_every_audio_stream(tmp_path):
    from test_media import _two_audio_streams

    path = _two_audio_streams(tmp_path / "two.mkv")
    r = run("inspect", path)
    assert r.exit_code == 0, r.output
    assert 'stream #0 (eng)' in r.output and 'also audio stream #1 (fra, "Commentary")' in r.output
    (d,) = json.loads(run("inspect", "--json", path).output)
    assert [a["language"] for a in d["audio_streams"]] == ["eng", "fra"]


def test_analyze_sequential_gives_the_verdict_of_the_concurrent_default(tmp_path):
    """--sequential runs the voice check after the video analyses: the same verdict, only slower."""
    from avsync.synth import ClipSpec, make_clip

    clip = make_clip(tmp_path / "face", ClipSpec(face="photo", size=(256, 256), duration=4.0, timbre="vowel"))
    out = []
    for extra in ([], ["--sequential"]):
        r = run("analyze", "--json", "--no-progress", "--device", "cpu", *extra, clip)
        assert r.exit_code == 0, r.output
        (d,) = json.loads(r.output)
        d["provenance"].pop("timings"), d["provenance"].pop("created", None)
        out.append(d)
    assert out[0] == out[1] and {c["name"] for c in out[0]["cues"]} >= {"sync", "spoof"}


def _all_commands():
    import click

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for sub_name, sub in cmd.commands.items():
                yield from walk(sub, (*path, sub_name))
        else:
            yield " ".join(path), cmd

    for name in COMMANDS:
        yield from walk(_command(name), (name,))


def test_every_option_is_a_parameter_of_its_command_function():
    """click passes every option to the function by name: an option the function does not take fails only
    when that command runs; one it takes but nobody declares fails the same way."""
    import inspect

    mismatched = {}
    seen = 0
    for path, cmd in _all_commands():
        if cmd.callback is None:
            continue
        seen += 1
        fn = inspect.unwrap(cmd.callback)
        sig = inspect.signature(fn)
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            continue
        declared = {p.name for p in cmd.params if p.expose_value}
        taken = {n for n, p in sig.parameters.items() if p.kind is not p.VAR_POSITIONAL}
        if declared != taken:
            mismatched[path] = (sorted(declared - taken), sorted(taken - declared))
    assert seen >= len(COMMANDS)
    assert not mismatched, mismatched


@pytest.mark.parametrize("cmd, opt", [("spoof", "--timeline"), ("analyze", "--html"), ("analyze", "--csv"),
                                      ("sync", "--plot"), ("faces", "--preview")])
def test_an_output_file_that_is_an_input_or_cannot_be_written_is_refused_before_any_work(tmp_path, cmd, opt):
    """`avsync spoof case.flac --timeline case.flac` overwrote the recording with the CSV; an unwritable report
    path was an internal error after the whole analysis, its verdicts lost."""
    rec = tmp_path / "case.wav"
    write_audio(rec, np.zeros(8000, np.float32), 8000)
    before = rec.read_bytes()
    extra = ["--spoof-model", "none", "--no-progress"] if cmd == "analyze" else (
        ["--model", "lcnn-spoof"] if cmd == "spoof" else [])
    r = run(cmd, rec, *extra, opt, rec)
    assert r.exit_code == 2 and "is one of the inputs" in r.output and rec.read_bytes() == before
    (tmp_path / "a_file").write_text("x")
    r = run(cmd, rec, *extra, opt, tmp_path / "a_file" / "out.bin")
    assert r.exit_code == 2 and "cannot be written" in r.output
    r = run(cmd, rec, *extra, opt, tmp_path / "newdir" / "out.bin")  # folders still made as needed
    assert r.exit_code != 2 or "cannot be written" not in r.output


def test_a_misspelt_voice_model_is_a_usage_error_of_spoof_as_of_batch(tmp_path):
    """`avsync spoof a.wav b.wav --model aasist-hifigan-kokoro-pipr` gave every file a model_error line and exit 1."""
    wav = tmp_path / "a.wav"
    write_audio(wav, np.zeros(16000, np.float32), 16000)
    r = run("spoof", wav, wav, "--model", "aasist-hifigan-kokoro-pipr")
    assert r.exit_code == 2 and "unknown spoof model" in r.output and r.output.count("unknown spoof model") == 1
