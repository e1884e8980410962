"""One self-contained HTML page per verdict: label, reasons, timeline plot, offset curve, faces, provenance.

Plots are rendered with matplotlib (Agg) to inline PNG; thumbnails are inline JPEG/PNG; the page loads
nothing from the network and embeds the verdict's JSON for machines.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avsync.cues import cue_color
from avsync.fusion import Cue, Label, format_p
from avsync.verdict import Verdict

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["render_html", "write_html"]

_COLORS = {Label.GENUINE: "#1b7f3b", Label.MANIPULATED: "#b3261e", Label.UNDETERMINED: "#8a6d00"}


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _thresholds(v: Verdict) -> dict:
    f = v.details.get("fusion") or {}
    return {"manipulated": float(f.get("manipulated_threshold", 0.5)), "genuine": float(f.get("genuine_threshold", 0.5))}


def _cue_lines(c: Cue) -> list[tuple[str, list]]:
    """A cue's windows as plot lines: one per audio channel for per-channel cues (calls), else one."""
    chans = sorted({w.channel for w in c.windows if w.channel is not None})
    if not chans:
        return [(c.name, list(c.windows))]
    return [(f"{c.name} (channel {ch})", [w for w in c.windows if w.channel == ch]) for ch in chans]


_CHANNEL_STYLES = ("-", "--", ":", "-.")


def _timeline_plot(v: Verdict) -> str | None:
    if not v.windows and not any(c.windows for c in v.cues):
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cues = [c for c in v.cues if c.windows]
    lines = [(c, label, wins, _CHANNEL_STYLES[i % len(_CHANNEL_STYLES)])
             for c in cues for i, (label, wins) in enumerate(_cue_lines(c))]
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax, ax2 = axes
    for seg in v.segments:
        ax.axvspan(seg.start, seg.end, color="#f4c7c3", alpha=0.6, lw=0)
    for c, label, wins, style in lines:
        if not any(w.valid and w.score is not None for w in wins):
            continue  # nothing to draw (no speech, no face): the presence rows below say so
        t = [(w.start + w.end) / 2 for w in wins]
        s = [np.nan if (w.score is None or not w.valid) else w.score for w in wins]
        ax.plot(t, s, marker=".", ls=style, color=cue_color(c.name), label=label, alpha=0.8, lw=1)
    if v.windows:
        t = [(w.start + w.end) / 2 for w in v.windows]
        s = [np.nan if w.score is None else w.score for w in v.windows]
        ax.plot(t, s, "-", color="black", lw=2, label="fused")
    # the decision rule: at or above the upper line "manipulated", below the lower line "genuine"
    thr = _thresholds(v)
    ax.axhline(thr["manipulated"], color=_COLORS[Label.MANIPULATED], ls="--", lw=1,
               label=f"fused: manipulated at ≥ {thr['manipulated']:.2f}")
    if thr["genuine"] < thr["manipulated"]:
        ax.axhline(thr["genuine"], color=_COLORS[Label.GENUINE], ls="--", lw=1,
                   label=f"fused: genuine below {thr['genuine']:.2f}")
        ax.axhspan(thr["genuine"], thr["manipulated"], color=_COLORS[Label.UNDETERMINED], alpha=0.08, lw=0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("P(manipulated)")
    # legend above the axes, never over the data
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01, 1, 0.2), mode="expand", fontsize=8, ncol=4, frameon=False)
    # presence rows: where each cue (each channel) had usable evidence (speech, face)
    for i, (c, label, wins, _) in enumerate(lines):
        for w in wins:
            if w.valid and w.score is not None:
                ax2.broken_barh([(w.start, w.end - w.start)], (i - 0.4, 0.8), color=cue_color(c.name), alpha=0.5)
    ax2.set_yticks(range(len(lines)), [f"{label} usable" for _, label, _, _ in lines], fontsize=8)
    ax2.set_ylim(-0.6, max(0.6, len(lines) - 0.4))
    ax2.set_xlim(0, max(v.duration_s, 1e-3))
    ax2.set_xlabel("time (s)")
    return _png(fig)


_PATH = re.compile(r"""(?<![\w:/])(?:[A-Za-z]:|~|\.{1,2})?[/\\](?:[^\s/\\'"`]+[/\\])*([^\s/\\'"`]+)""")


def without_paths(text: str) -> str:
    """``text`` with every file-system path cut to its last component ("weights not found: /home/a/x.pth"
    → "weights not found: x.pth"; a folder keeps a mark that it was one: "not found in /root/.cache/avsync"
    → "not found in …/avsync"): the "Why" of a report is read by people it may be forwarded to."""

    def cut(m: re.Match[str]) -> str:
        last = m.group(1)
        return last if "." in last.strip(".") else f"…/{last}"

    return _PATH.sub(cut, text)


def _offset_plot(v: Verdict) -> str | None:
    curve = (v.details.get("sync") or {}).get("offset_curve")
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    lags = np.asarray(curve.get("lags_ms", []), float)
    dist = np.asarray(curve.get("values", []), float)
    if lags.size == 0 or lags.size != dist.size:
        return None
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.plot(lags, dist, "-", color="#1f77b4")
    best = int(np.nanargmin(dist)) if curve.get("lower_is_better", True) else int(np.nanargmax(dist))
    ax.axvline(lags[best], color="#b3261e", ls="--", lw=1)
    ax.axvline(0, color="gray", ls=":", lw=1)
    ax.set_xlabel("offset (ms, positive: audio leads video)")
    ax.set_ylabel(curve.get("label", "distance"))
    return _png(fig)


def _img_uri(arr: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image as mpimg

    buf = io.BytesIO()
    mpimg.imsave(buf, np.asarray(arr), format="png", cmap="gray" if np.ndim(arr) == 2 else None)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _is_path_field(key: str) -> bool:
    """Fields of a verdict's JSON that hold a file's path (``input_path``, ``path``, ``reference_path``, ...)."""
    return key in ("path", "reference") or key.endswith("_path")


def _shareable(obj: Any) -> Any:
    """``obj`` (the JSON form of a verdict) with every file-system path cut by :func:`without_paths`, and every path
    field (the input's, relative ones included: ``sources/anonymous/clip.mp4``) cut to its file name."""
    if isinstance(obj, dict):
        return {k: (Path(val).name if _is_path_field(k) and isinstance(val, str) else _shareable(val))
                for k, val in obj.items()}
    if isinstance(obj, list):
        return [_shareable(x) for x in obj]
    return without_paths(obj) if isinstance(obj, str) else obj


def render_html(verdict: Verdict, *, thumbnails: Mapping[str, np.ndarray] | None = None, title: str | None = None,
                full_paths: bool = False) -> str:
    """Render a verdict as one self-contained HTML page.

    Parameters
    ----------
    verdict
        The analysis result.
    thumbnails
        Optional face thumbnails, label → ``uint8`` image ``[H, W(, 3)]``.
    title
        Page title (default: the input's file name).
    full_paths
        Keep the input's full path in the provenance table and every file-system path in the embedded JSON. By
        default the report names the input by its file name (its sha256 identifies it) and cuts every other path
        in the JSON to its last component, so that a forwarded report does not show the folders of the machine
        that made it. The "Why" and the cue notes show file names only either way.
    """
    v = verdict
    e = html.escape
    name = title or (Path(v.provenance.input_path).name if v.provenance.input_path else "media")
    color = _COLORS[v.label]
    score = "—" if v.score is None else format_p(v.score)  # as the reasons print it
    reasons = "".join(f"<li>{e(without_paths(r))}</li>" for r in v.reasons) or "<li>no finding</li>"
    per_channel = any(s.channel is not None for s in v.segments)
    segs = "".join(
        f"<tr><td>{s.start:.1f}</td><td>{s.end:.1f}</td><td>{e(s.kind)}</td>"
        + (f"<td>{'all' if s.channel is None else s.channel}</td>" if per_channel else "")
        + f"<td>{format_p(s.score)}</td></tr>" for s in v.segments
    )
    seg_head = "<tr><th>start (s)</th><th>end (s)</th><th>kind</th>" + ("<th>channel</th>" if per_channel else "") \
        + "<th>score</th></tr>"
    cues = "".join(
        f"<tr><td>{e(c.name)}</td><td>{e(str(c.status))}</td><td>{'—' if c.score is None else format_p(c.score)}</td>"
        f"<td>{'—' if c.coverage is None else f'{100 * c.coverage:.0f} %'}</td><td>{e(without_paths(c.message or ''))}</td></tr>"
        for c in v.cues
    )
    p = v.provenance
    prov_rows = [
        ("input", (p.input_path if full_paths else Path(p.input_path).name) if p.input_path else "(in memory)"),
        ("input sha256", p.input_sha256 or "—"),
        ("avsync version", p.avsync_version),
        ("fusion config sha256", p.config_hash),
        ("device", p.device),
        ("created", p.created),
    ]
    prov_rows += [(f"model ({m.role or 'model'})", f"{m.name} {m.version or ''} " + (
        f"sha256 {m.sha256}" if m.sha256 else ("built in, no weights" if m.role == "sync" and m.name == "motion" else "sha256 —")))
        for m in p.models]
    prov_rows += [(f"time: {k}", f"{t:.2f} s") for k, t in p.timings.items()]
    prov = "".join(f"<tr><th>{e(k)}</th><td><code>{e(str(val))}</code></td></tr>" for k, val in prov_rows)
    timeline = _timeline_plot(v)
    offset = _offset_plot(v)
    thumbs = "".join(
        f'<figure><img alt="{e(k)}" src="{_img_uri(img)}"><figcaption>{e(k)}</figcaption></figure>'
        for k, img in (thumbnails or {}).items()
    )
    d = v.to_dict()
    data = json.dumps(d if full_paths else _shareable(d), allow_nan=False).replace("<", "\\u003c")  # inert inside <script>
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>avsync report: {e(name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #1d1d1f; padding: 0 1rem; }}
.verdict {{ background: {color}; color: white; padding: 1rem 1.5rem; border-radius: 10px; }}
.verdict h1 {{ margin: 0; font-size: 1.8rem; text-transform: uppercase; letter-spacing: .05em; }}
.verdict p {{ margin: .3rem 0 0; font-size: 1.05rem; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
code {{ word-break: break-all; }}
img {{ max-width: 100%; }}
figure {{ display: inline-block; margin: .3rem; text-align: center; }}
figure img {{ height: 112px; border-radius: 6px; }}
h2 {{ margin-top: 1.6rem; font-size: 1.2rem; }}
</style></head>
<body>
<div class="verdict" id="verdict-banner"><h1>{e(v.label.value)}</h1>
<p>{e(name)} · probability of manipulation {score} · {v.duration_s:.1f} s · {e(v.kind)} · status {e(str(v.status))}</p></div>
<h2>Why</h2><ul id="reasons">{reasons}</ul>
{f'<h2>Timeline</h2><img id="timeline" alt="timeline" src="{timeline}">' if timeline else ''}
{f'<h2>Flagged segments</h2><table id="segments">{seg_head}{segs}</table>' if segs else ''}
{f'<h2>Audio-video offset</h2><img id="offset" alt="offset curve" src="{offset}">' if offset else ''}
{f'<h2>Faces</h2><div id="faces">{thumbs}</div>' if thumbs else ''}
<h2>Evidence</h2><table><tr><th>cue</th><th>status</th><th>P(manipulated)</th><th>coverage</th><th>note</th></tr>{cues}</table>
<h2>Provenance</h2><table id="provenance">{prov}</table>
<script type="application/json" id="verdict-json">{data}</script>
</body></html>
"""


def write_html(verdict: Verdict, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`render_html` output to ``path`` and return it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(verdict, **kwargs), encoding="utf-8")
    return out
