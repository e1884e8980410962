"""Evaluation: manifests, metrics, robustness perturbations and the ``avsync eval`` harness.

Submodules import only numpy/scipy (and PyAV for perturbations); matplotlib is imported lazily for
plots. scikit-learn is never needed (the tests use it as a reference).
"""

from avsync.evaluation.harness import EvalConfig, EvalReport, ResultCache, run_eval
from avsync.evaluation.manifest import ManifestRow, filter_rows, paired_reals, read_manifest, write_manifest
from avsync.evaluation.tasks import TaskUnavailable, get_task, register_task, task_names, unregister_task

__all__ = [
    "EvalConfig",
    "EvalReport",
    "ManifestRow",
    "ResultCache",
    "TaskUnavailable",
    "filter_rows",
    "get_task",
    "paired_reals",
    "read_manifest",
    "register_task",
    "run_eval",
    "task_names",
    "unregister_task",
    "write_manifest",
]
