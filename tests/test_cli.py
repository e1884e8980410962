"""The CLI through click's CliRunner: output, JSON keys, exit codes."""

from __future__ import annotations

import json

import pytest
from avsync_cli.main import cli
from click.testing import CliRunner

import avsync


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_lists_commands():
    r = run("--help")
    assert r.exit_code == 0 and "inspect" in r.output


def test_version():
    import avsync

    assert avsync.__version__ in run("--version").output


def test_inspect_json_keys(clip):
    path = clip("cli_ok", duration=1.2)
    r = run("inspect", "--json", path)
    assert r.exit_code == 0, r.output
    (d,) = json.loads(r.output)
    assert d["status"] == "ok" and d["duration_s"] > 1.1 and len(d["sha256"]) == 64
    assert {"fps", "width", "height", "frames", "vfr"} <= set(d["video"])
    assert {"sample_rate", "channels"} <= set(d["audio"])
    text = run("inspect", path).output  # the text line names the bytes it describes too
    assert f"sha256={d['sha256']}" in text and "sha256=" not in run("inspect", "--no-hash", path).output


def test_inspect_bad_files_exit_1_with_statuses(clip, tmp_path):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "rand.mp4").write_bytes(b"\x00\x01garbage" * 100)
    noaudio = clip("cli_noaudio", audio=False, duration=1.2)
    r = run("inspect", "--json", str(tmp_path / "zero.mp4"), str(tmp_path / "rand.mp4"), noaudio, str(tmp_path / "nope.mp4"))
    assert r.exit_code == 1
    statuses = [d["status"] for d in json.loads(r.output)]
    assert statuses == ["empty", "decode_error", "no_audio", "not_found"]
    assert "Traceback" not in r.output


def test_inspect_text_output(clip):
    r = run("inspect", clip("cli_text", duration=1.2, vfr=True, preset="mkv"))
    assert r.exit_code == 0 and "VFR" in r.output and "ok" in r.output


def test_inspect_says_shorter_and_before_in_words(clip):
    """Offsets and length differences are said in words, never as "-0.53 s longer"; a file without sound gets a
    hint a user can follow (there is no --audio option)."""
    from dataclasses import replace

    from avsync_cli.commands.inspect import _line

    info = avsync.inspect_media(clip("cli_words", duration=1.2))
    text = _line(replace(info, duration_mismatch_s=-0.53, av_start_offset_s=-0.04))
    assert "audio is 0.53 s shorter than video" in text and "audio starts 40 ms before video" in text
    text = _line(replace(info, duration_mismatch_s=0.25, av_start_offset_s=0.12))
    assert "audio is 0.25 s longer than video" in text and "audio starts 120 ms after video" in text
    r = run("inspect", clip("cli_noaudio", audio=False, duration=1.2))
    assert "no audio track" in r.output and "--audio" not in r.output and "ffmpeg -i VIDEO -i AUDIO" in r.output


def test_sample_command_writes_clip(tmp_path):
    out = tmp_path / "s.mp4"
    r = run("sample", str(out), "--duration", "1.5", "--offset-ms", "80")
    assert r.exit_code == 0 and out.exists()
    d = json.loads(run("inspect", "--json", str(out)).output)[0]
    assert d["status"] == "ok" and abs(d["duration_s"] - 1.5) < 0.1


def test_usage_error_exit_2():
    assert run("inspect").exit_code == 2


@pytest.mark.parametrize("args", [
    ["spoof", "{f}", "--batch-size", "0"],
    ["spoof", "{f}", "--threshold", "1.5"],
    ["artefacts", "{f}", "--sample-fps", "0"],
    ["faces", "{f}", "--min-face", "-5"],
    ["inspect", "{f}", "--max-duration", "0"],
    ["sample", "{d}/x.mp4", "--duration", "-2"],
    ["sample", "{d}/x.mp4", "--offset-ms", "99999"],
    ["eval", "{f}", "--out", "{d}/ev", "--limit", "-1"],
    ["train", "spoof", "--out", "{d}/t", "--threads", "0"],
])
def test_out_of_range_options_are_usage_errors(args, tmp_path):
    """Nonsense option values exit 2 with click's message, never an internal error."""
    f = tmp_path / "a.wav"
    f.write_bytes(b"RIFF")
    r = CliRunner().invoke(cli, [a.format(f=f, d=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    assert "internal error" not in r.output and ("Invalid value" in r.output or "is not shorter" in r.output)


def test_warped_copies_without_the_hifigan_specialist_are_a_usage_error(tmp_path):
    """`--warp-copies` makes HiFi-GAN copies: with the classical recipe it is refused before any data is read."""
    r = CliRunner().invoke(cli, ["train", "spoof", "--out", str(tmp_path / "t"), "--warp-copies"])
    assert r.exit_code == 2 and "--fakes hifigan" in r.output, r.output
    assert not (tmp_path / "t").exists()


def test_extra_real_speech_without_a_specialist_is_a_usage_error(tmp_path):
    """`--extra-real` adds real speech to a specialist's or the fine-tuning recipe: with the classical recipe, and
    with `--gate` beside a head on a frozen checkpoint, it is refused at once."""
    r = CliRunner().invoke(cli, ["train", "spoof", "--out", str(tmp_path / "t"), "--extra-real", str(tmp_path)])
    assert r.exit_code == 2 and "--fakes hifigan, kokoro or piper" in r.output, r.output
    assert not (tmp_path / "t").exists()
    for args in (["--head", "aasist", "--gate", "0.5"], ["--head", "aasist", "--extra-real", "x"]):
        r = CliRunner().invoke(cli, ["train", "spoof", "--out", str(tmp_path / "t"), *args])
        assert r.exit_code == 2 and "do not go with" in r.output, r.output
        assert not (tmp_path / "t").exists()


def test_music_beside_a_head_on_a_frozen_checkpoint_is_a_usage_error(tmp_path):
    """`--music` shapes a trained network's data: beside `--head` it is refused before anything is read."""
    r = CliRunner().invoke(cli, ["train", "spoof", "--out", str(tmp_path / "t"), "--head", "aasist", "--music", "x"])
    assert r.exit_code == 2 and "do not go with" in r.output, r.output
    assert not (tmp_path / "t").exists()


def test_spoof_text_calls_only_an_identity_change_a_change():
    """The least similar split of a channel is always measured; a line for a steady voice once read
    'change@11.6s sim=0.86', as if a change had been found."""
    from avsync import Status
    from avsync.speaker.evidence import SpeakerEvidence
    from avsync.spoof import ChannelSpoof, SpoofResult
    from avsync_cli.commands.spoof import _line

    def text(change: bool) -> str:
        sp = SpeakerEvidence(Status.OK, 0, "ge2e", consistency=0.9, change_time_s=11.6, change_similarity=0.86 if not change
                             else 0.41, identity_change=change)
        ch = ChannelSpoof(0, Status.OK, 0.2, (), 20.0, speaker=sp)
        return _line(SpoofResult(Status.OK, 0.2, "m", path="call.wav", threshold=0.5, channels=(ch,)))

    assert "no identity change (least similar at 11.6s: 0.86)" in text(False) and "IDENTITY" not in text(False)
    assert "IDENTITY CHANGE at 11.6s (similarity 0.41)" in text(True)
