"""Recover a fine-tuning run's own weights from its export (the weight average and Platt folding undone).

Usage (from the repository root)::

    PYTHONPATH=$PWD:$PWD/cli python benchmarks/spoof_recover_finetuned.py --model models/aasist-avsync \\
        --weights ../shared/weights --out runs/recovered/finetuned.safetensors

The export ``DIR/aasist_avsync.safetensors`` is ``alpha * fine-tuned + (1 - alpha) * base`` with Platt folded
into its output layer; ``alpha``, the base and Platt's ``a``/``b`` are read from ``DIR/training.json``
(:func:`avsync.training.spoof_finetune.recover_finetuned`). The output is what ``avsync train spoof --finetune
NAME --trained FILE`` finishes (docs/spoofmodel.md, "Layer-wise weight average"); finishing it with the run's own
``--wise-alpha`` gives back the export's calibration. ``--alpha 1`` undoes the Platt folding only and keeps the
average: the exported network as it was before calibration (a distillation teacher, ``--teacher``, or a start,
``--init``; docs/spoofmodel.md, "The shipped model as the teacher").
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from avsync.spoof.models import load_spoof_model
from avsync.training.spoof_finetune import MODEL_FILE, recover_finetuned, save_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="folder of an export: aasist_avsync.safetensors + training.json")
    ap.add_argument("--weights", default=None, help="models directory holding the base checkpoint")
    ap.add_argument("--out", required=True, help="safetensors file to write")
    ap.add_argument("--alpha", type=float, default=None,
                    help="the average to undo (default: the run's --wise-alpha; 1: undo the Platt folding only)")
    args = ap.parse_args()

    from safetensors.torch import load_file

    folder = Path(args.model)
    info = json.loads((folder / "training.json").read_text())
    cfg, cal = info["train_config"], info["calibration"]
    base = load_spoof_model(cfg["base"], weights=args.weights)
    alpha = float(cfg["wise_alpha"]) if args.alpha is None else args.alpha
    state = recover_finetuned(load_file(str(folder / MODEL_FILE)), base.net.state_dict(), alpha,
                              float(cal["platt_a"]), float(cal["platt_b"]))
    net = copy.deepcopy(base.net)  # the loaded model is cached: fill a copy
    net.load_state_dict(state)
    save_weights(net, Path(args.out), {"step": str(info["steps"]), "loss": str(info["final_loss"]), "base": cfg["base"],
                                       "class": type(net).__name__, "recovered_from": str(folder / MODEL_FILE)})
    print(f"{args.out}: weights of {folder} (average alpha {alpha} undone, Platt a {cal['platt_a']:.6f} "
          f"b {cal['platt_b']:.6f} undone)")


if __name__ == "__main__":
    main()
