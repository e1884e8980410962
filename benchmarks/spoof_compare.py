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


def table(runs: dict[str, dict]) -> str:
    names = list(runs)
    head = "| subset | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    lines = [f"EER % (95 % CI), fake vs its real counterpart\n\n{head}"]
    eer_rows = list(dict.fromkeys(k for r in runs.values() for k in r["table"]["eer"]))
    for k in eer_rows:
        cells = []
        for n in names:
            v = runs[n]["table"]["eer"].get(k)
            cells.append("-" if v is None else f"{_pct(v['eer'])} ({_pct(v['ci95'][0])}–{_pct(v['ci95'][1])})")
        any_v = next(runs[n]["table"]["eer"][k] for n in names if k in runs[n]["table"]["eer"])
        lines.append(f"| {k} ({any_v['n_fake']} / {any_v['n_real']}) | " + " | ".join(cells) + " |")
    thr = ", ".join(f"{n} {runs[n]['table']['threshold']:.3f}" for n in names)
    lines.append(f"\nReal speech flagged at the model's threshold, % (95 % CI); thresholds: {thr}\n\n{head}")
    fpr_rows = list(dict.fromkeys(k for r in runs.values() for k in r["table"]["fpr_at_threshold"]))
    for k in fpr_rows:
        cells = []
        for n in names:
            v = runs[n]["table"]["fpr_at_threshold"].get(k)
            cells.append("-" if v is None else f"{_pct(v['fpr'])} ({_pct(v['ci95'][0])}–{_pct(v['ci95'][1])})")
        any_v = next(runs[n]["table"]["fpr_at_threshold"][k] for n in names if k in runs[n]["table"]["fpr_at_threshold"])
        lines.append(f"| {k} ({any_v['n']}) | " + " | ".join(cells) + " |")
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
