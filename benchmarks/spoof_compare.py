"""One markdown table of several `benchmarks/spoof_model_eval.py --json` outputs, side by side.

    python benchmarks/spoof_compare.py NAME=PATH.json NAME=PATH.json ...

Rows: EER (95 % bootstrap CI) of every fake subset against its own real counterpart, then the share of each
real subset flagged at each model's own threshold. A subset a model was not run on shows "-".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _rows(runs: dict[str, dict], section: str, value: str, count) -> list[str]:
    """One markdown row per subset of ``table[section]``: ``value`` (95 % CI) per model, "-" where not run."""
    names = list(runs)
    out = []
    for k in dict.fromkeys(k for r in runs.values() for k in r["table"][section]):
        cells = []
        for n in names:
            v = runs[n]["table"][section].get(k)
            cells.append("-" if v is None else f"{_pct(v[value])} ({_pct(v['ci95'][0])}–{_pct(v['ci95'][1])})")
        any_v = next(runs[n]["table"][section][k] for n in names if k in runs[n]["table"][section])
        out.append(f"| {k} ({count(any_v)}) | " + " | ".join(cells) + " |")
    return out


def table(runs: dict[str, dict]) -> str:
    names = list(runs)
    head = "| subset | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    lines = [f"EER % (95 % CI), fake vs its real counterpart\n\n{head}"]
    lines += _rows(runs, "eer", "eer", lambda v: f"{v['n_fake']} / {v['n_real']}")
    thr = ", ".join(f"{n} {runs[n]['table']['threshold']:.3f}" for n in names)
    lines.append(f"\nReal speech flagged at the model's threshold, % (95 % CI); thresholds: {thr}\n\n{head}")
    lines += _rows(runs, "fpr_at_threshold", "fpr", lambda v: v["n"])
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    runs = {}
    for arg in argv:
        name, _, path = arg.partition("=")
        runs[name] = json.loads(Path(path or name).read_text())
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
