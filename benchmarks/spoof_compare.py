"""One markdown table of several `benchmarks/spoof_model_eval.py --json` outputs, side by side.

    python benchmarks/spoof_compare.py NAME=PATH.json NAME=PATH.json ...
    python benchmarks/spoof_compare.py --dev NAME=PATH.json ...     # the development split only
    python benchmarks/spoof_compare.py --tts-pages NAME=PATH.json ...   # TTS / vocoder demo pages, pooled

Rows: EER (95 % bootstrap CI) of every fake subset against its own real counterpart, then the share of each
real subset flagged at each model's own threshold. A subset a model was not run on shows "-".

``--dev`` prints each model's pooled EER on the development split used to choose between voice-model variants
(:data:`DEV_SUBSETS`: the HiFi-GAN-demo vocoders and the FreeVC-demo systems against their real recordings; every
other subset is for reporting; docs/spoofmodel.md). ``--tts-pages`` prints the pooled EER (95 % bootstrap CI) of
the demo pages that ``avsync train spoof --demo-fold vc`` never trains on (:data:`TTS_PAGES`: the HiFi-GAN demo
vocoders and the TTS / vocoder pages, each against its own real recordings), the set that decides whether a
model trained on the voice-conversion pages replaces the default. Both need ``../shared`` (``AVSYNC_SHARED``)
for the file lists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _rows(runs: dict[str, dict], section: str, value: str, count, folds: dict[str, str | None]) -> list[str]:
    """One markdown row per subset of ``table[section]``: ``value`` (95 % CI) per model, "-" where not run,
    "(trained on)" where the model trained on that subset's demo pages."""
    names = list(runs)
    out = []
    for k in dict.fromkeys(k for r in runs.values() for k in r["table"][section]):
        cells = []
        for n in names:
            v = runs[n]["table"][section].get(k)
            mark = " (trained on)" if trained_on(k, folds.get(n)) else ""
            cells.append("-" if v is None else f"{_pct(v[value])} ({_pct(v['ci95'][0])}–{_pct(v['ci95'][1])}){mark}")
        any_v = next(runs[n]["table"][section][k] for n in names if k in runs[n]["table"][section])
        out.append(f"| {k} ({count(any_v)}) | " + " | ".join(cells) + " |")
    return out


def demo_fold_of(run: dict) -> str | None:
    """The ``demo_fold`` a run's model was trained with (safetensors metadata of an ``aasist:PATH`` model), or None."""
    kind, _, path = str(run.get("table", {}).get("model", "")).partition(":")
    if kind != "aasist" or not Path(path).is_file():
        return None
    from safetensors import safe_open

    with safe_open(path, "pt") as fh:
        return (fh.metadata() or {}).get("demo_fold")


def trained_on(subset: str, fold: str | None) -> bool:
    """Whether a subset of ``spoof_model_eval.py`` holds pages of the demo fold ``fold`` (pooled rows included)."""
    if not fold:
        return False
    from avsync.training.spoof_finetune import DEMO_FOLDS

    prefixes = tuple("freevc_" if page == "freevc_demo" else f"demo_{page}" for page in DEMO_FOLDS[fold])
    return subset.startswith(prefixes) or subset in ("demo_all", "demo_real_all")


def table(runs: dict[str, dict]) -> str:
    names = list(runs)
    folds = {n: demo_fold_of(r) for n, r in runs.items()}
    head = "| subset | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    lines = [f"EER % (95 % CI), fake vs its real counterpart\n\n{head}"]
    lines += _rows(runs, "eer", "eer", lambda v: f"{v['n_fake']} / {v['n_real']}", folds)
    thr = ", ".join(f"{n} {runs[n]['table']['threshold']:.3f}" for n in names)
    lines.append(f"\nReal speech flagged at the model's threshold, % (95 % CI); thresholds: {thr}\n\n{head}")
    lines += _rows(runs, "fpr_at_threshold", "fpr", lambda v: v["n"], folds)
    return "\n".join(lines)


DEV_SUBSETS = ("hifigan_demo_", "freevc_")
"""Name prefixes of the development subsets (``freevc_real`` is their real side, not a subset of its own)."""


TTS_PAGES = ("hifigan_demo_", "demo_styletts2-demo", "demo_vits-demo", "demo_vocos-demo", "demo_mobilespeech-demo",
             "demo_grad-tts-demo", "demo_advspeech")
"""Subsets of the TTS / vocoder demo pages (none of them in ``avsync.training.spoof_finetune.DEMO_FOLDS["vc"]``)."""


def _pooled(run: dict, prefixes: tuple[str, ...]) -> tuple[list[float], list[float]]:
    import spoof_model_eval as sme

    files, pairs = sme.subsets(sme.manifest_rows()[1])
    keys = [k for k in pairs if k.startswith(prefixes) and k not in ("hifigan_demo_all", "demo_all")]
    s = run["scores"]
    fakes = [s[f] for f in sorted({f for k in keys for f in files[pairs[k][0]]}) if f in s]
    reals = [s[f] for f in sorted({f for k in keys for f in files[pairs[k][1]]}) if f in s]
    return reals, fakes


def dev_eer(run: dict) -> tuple[float, int, int]:
    """Pooled EER of one ``spoof_model_eval.py --json`` output on the development split: (EER, fakes, reals)."""
    from avsync.evaluation.metrics import eer_of

    fold = demo_fold_of(run)
    if any(trained_on(p, fold) for p in DEV_SUBSETS):
        raise SystemExit(f"{run['table']['model']} was trained on demo pages of the development split (--demo-fold {fold}): "
                         "compare it with --tts-pages")
    reals, fakes = _pooled(run, DEV_SUBSETS)
    return eer_of(reals, fakes), len(fakes), len(reals)


def tts_pages_eer(run: dict) -> tuple[float, float, float, int, int]:
    """Pooled EER (95 % bootstrap CI, 1000 replicates, seed 0) on :data:`TTS_PAGES`: (EER, low, high, fakes, reals)."""
    from avsync.evaluation.metrics import eer, eer_ci

    reals, fakes = _pooled(run, TTS_PAGES)
    y, sc = [0] * len(reals) + [1] * len(fakes), reals + fakes
    ci = eer_ci(y, sc)
    return eer(y, sc)[0], ci.low, ci.high, len(fakes), len(reals)


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--dev", action="store_true", help="each model's pooled EER on the development split")
    mode.add_argument("--tts-pages", action="store_true", help="each model's pooled EER on the TTS / vocoder pages")
    ap.add_argument("runs", nargs="+", metavar="NAME=PATH.json", help="spoof_model_eval.py --json outputs")
    a = ap.parse_args(argv)
    runs = {}
    for arg in a.runs:
        name, _, path = arg.partition("=")
        f = Path(path or name)
        if not f.is_file():
            ap.error(f"{f}: no such file")
        runs[name] = json.loads(f.read_text())
    for name, run in runs.items():
        if a.dev:
            e, nf, nr = dev_eer(run)
            print(f"{name}: development EER {100 * e:.1f} % ({nf} fakes / {nr} reals)")
        elif a.tts_pages:
            e, lo, hi, nf, nr = tts_pages_eer(run)
            print(f"{name}: TTS / vocoder pages EER {100 * e:.1f} % ({100 * lo:.1f}–{100 * hi:.1f}; {nf} fakes / {nr} reals)")
    if not (a.dev or a.tts_pages):
        print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
