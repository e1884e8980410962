"""Real speech no voice model here has scored: the KLettres recordings of the languages ``../shared`` does not hold.

``../shared`` holds Debian ``klettres-data``'s German, English (US, GB) and French letters and syllables (the voice
benchmarks' ``klettres`` subset). The package has 16 more languages, one speaker each: fresh real speech of the same
kind (isolated letters and syllables) to check a voice model's false alarms on (docs/spoofmodel.md, "The pair as the
default?"). The files are read in place from the unpacked package and never copied into the repository.

    apt-get download klettres-data && dpkg-deb -x klettres-data_*.deb KL
    python benchmarks/spoof_fresh_klettres.py list KL/usr/share/klettres > fresh.csv
    avsync batch fresh.csv --task spoof --model aasist-avsync -j 2 -o base.jsonl
    avsync batch fresh.csv --task spoof --model aasist-hifigan -j 2 -o pair.jsonl
    python benchmarks/spoof_fresh_klettres.py table base.jsonl pair.jsonl

``table`` prints, per language, the files each run scored and the files each flagged at its model's threshold
(the result's ``flagged``), and the files either run could not score (too short, no speech, unreadable).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

IN_SHARED = ("de", "en", "en_GB", "fr")
"""Languages whose recordings ``../shared/data/real_speech/debian_klettres`` holds (already evaluated on)."""


def fresh_files(root: str | Path) -> list[Path]:
    """Every ``.ogg`` under ``root/<language>/`` of a language not in :data:`IN_SHARED`, sorted."""
    root = Path(root)
    return sorted(p for d in sorted(root.iterdir()) if d.is_dir() and d.name not in IN_SHARED
                  for p in d.rglob("*.ogg"))


def language(path: str) -> str:
    parts = Path(path).parts
    return parts[parts.index("klettres") + 1] if "klettres" in parts else Path(path).parent.parent.name


def read_run(path: str | Path) -> dict[str, dict]:
    """The last line of each input of an ``avsync batch`` results file."""
    with open(path) as fh:
        return {r["path"]: r for r in map(json.loads, fh)}


def table(runs: dict[str, dict[str, dict]]) -> str:
    """Markdown: per language, files scored by every run, each run's flagged count, files some run did not score."""
    names = list(runs)
    paths = sorted(set.intersection(*(set(r) for r in runs.values())))
    scored: Counter = Counter()
    flagged: Counter = Counter()
    other: Counter = Counter()
    for p in paths:
        lang = language(p)
        rows = [runs[n][p] for n in names]
        if all(r["status"] == "ok" for r in rows):
            scored[lang] += 1
            for n, r in zip(names, rows):
                flagged[lang, n] += bool((r.get("result") or {}).get("flagged"))
        else:
            other[lang] += 1
    langs = sorted(set(scored) | set(other))
    out = ["| language | scored | " + " | ".join(f"{n} flagged" for n in names) + " | not scored |",
           "|---" * (len(names) + 3) + "|"]
    for lang in langs:
        out.append(f"| {lang} | {scored[lang]} | " + " | ".join(str(flagged[lang, n]) for n in names)
                   + f" | {other[lang]} |")
    n_all = sum(scored.values())
    cells = [f"{sum(flagged[lang, n] for lang in langs)} ({100 * sum(flagged[lang, n] for lang in langs) / max(n_all, 1):.1f} %)"
             for n in names]
    out.append(f"| all {len(langs)} | {n_all} | " + " | ".join(cells) + f" | {sum(other.values())} |")
    status = Counter(r["status"] for run in runs.values() for r in run.values())
    out.append(f"\nstatuses over all runs: {dict(status)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("list", help="CSV (column `path`) of the fresh languages' files under ROOT")
    lp.add_argument("root")
    tp = sub.add_parser("table", help="the table of two or more `avsync batch --task spoof` results files")
    tp.add_argument("runs", nargs="+", metavar="JSONL")
    args = ap.parse_args(argv)
    if args.cmd == "list":
        w = csv.writer(sys.stdout)
        w.writerow(["path"])
        for p in fresh_files(args.root):
            w.writerow([str(p)])
        return 0
    runs = {}
    for f in args.runs:
        run = read_run(f)
        model = next((r.get("model") for r in run.values() if r.get("model")), Path(f).stem)
        runs[model] = run
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
