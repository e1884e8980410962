"""Score-level ensembles of two voice models, from their `benchmarks/spoof_model_eval.py --json` outputs.

    AVSYNC_SHARED=../shared python benchmarks/spoof_score_fusion.py A.json B.json [--names public,finetuned]

Both JSONs must come from the same file list (their ``scores`` dicts: file → mean window probability). Printed per
subset pair of the evaluation (fake subset vs its real counterpart): EER % of A, of B, of the mean of their
log-odds (``avsync.fusion.logit``: clipped at 1e-4) and of their maximum. Nothing is fitted, so every row is
held out as the inputs are. The question it answers: does averaging two models' *outputs* keep what each
catches, where averaging their *weights* (the shipped WiSE-FT model) trades one for the other
(models/aasist-avsync/MODEL_CARD.md)?

With ``--relative`` a third combination is added, ``max rel.``: the larger of the two probabilities relative to each
model's own threshold (the ``threshold`` its JSON records): ``sigmoid(logit p - logit threshold)``, so each threshold
maps to 0.5; a second table gives the share of every held-out real subset flagged by A at its threshold, by B at its
threshold and by ``max rel.`` at 0.5 (docs/spoofmodel.md, "A specialist for converged HiFi-GAN copies").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spoof_model_eval as E  # noqa: E402

from avsync.evaluation.metrics import eer_of
from avsync.fusion import logit  # noqa: E402
from avsync.pipeline import relative_to_threshold  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--names", default="A,B", help="column names of the two models")
    ap.add_argument("--shared", default=None, help="shared root (default $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--relative", action="store_true",
                    help="add the maximum of the threshold-relative probabilities and the real subsets' flagged shares")
    a = ap.parse_args(argv)
    na, nb = a.names.split(",")
    ja, jb = (json.loads(Path(p).read_text()) for p in (a.a, a.b))
    sa, sb = ja["scores"], jb["scores"]
    ta, tb = float(ja["table"]["threshold"]), float(jb["table"]["threshold"])
    common = sa.keys() & sb.keys()
    _, rows = E.manifest_rows(a.shared)
    files, pairs = E.subsets(rows)
    files["fsdd_heldout_joined"] = sorted(k for k in common if k.startswith("joined:"))
    extra = {**ja["table"].get("extra_real", {}), **jb["table"].get("extra_real", {})}  # spoof_model_eval --extra-real
    files.update(extra)
    cols = {na: {k: sa[k] for k in common}, nb: {k: sb[k] for k in common},
            "mean log-odds": {k: (logit(sa[k]) + logit(sb[k])) / 2 for k in common},
            "max": {k: max(sa[k], sb[k]) for k in common}}
    if a.relative:
        cols["max rel."] = {k: max(relative_to_threshold(sa[k], ta), relative_to_threshold(sb[k], tb)) for k in common}
    print(f"| subset (fakes / reals) | {' | '.join(cols)} |\n|---|{'---|' * len(cols)}")
    for name, (fk, rk) in pairs.items():
        fakes = [f for f in files.get(fk, []) if f in common]
        reals = [f for f in files.get(rk, []) if f in common]
        if not fakes or not reals:
            continue
        cells = [f"{100 * eer_of([s[f] for f in reals], [s[f] for f in fakes]):.1f}" for s in cols.values()]
        print(f"| {name} ({len(fakes)} / {len(reals)}) | {' | '.join(cells)} |")
    if a.relative:
        rel = cols["max rel."]
        print(f"\nreal speech flagged, %: {na} at {ta:.3f}, {nb} at {tb:.3f}, max rel. at 0.5\n")
        print(f"| real subset (files) | {na} | {nb} | max rel. |\n|---|---|---|---|")
        for name in [*E.REAL_FPR, *extra]:
            reals = [f for f in files.get(name, []) if f in common]
            if not reals:
                continue
            shares = [sum(sa[f] >= ta for f in reals), sum(sb[f] >= tb for f in reals), sum(rel[f] >= 0.5 for f in reals)]
            print(f"| {name} ({len(reals)}) | " + " | ".join(f"{100 * n / len(reals):.1f} ({n})" for n in shares) + " |")
    return 0



if __name__ == "__main__":
    sys.exit(main())
