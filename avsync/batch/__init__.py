"""Batch runs over folders, globs and manifests: resumable JSONL, progress, local or Ray engine.

>>> from avsync.batch import run_batch
>>> summary = run_batch("calls/", "results.jsonl", task="inspect", jobs=2)  # doctest: +SKIP
>>> summary.by_status  # doctest: +SKIP
{'ok': 950, 'no_video': 40, 'decode_error': 10}

See ``docs/batch.md``.
"""

from avsync.batch.engines import Engine, InProcessEngine, Job, LocalEngine, RayEngine, make_engine
from avsync.batch.inputs import InputItem, discover_inputs
from avsync.batch.log import ResultsLog, read_results
from avsync.batch.runner import RECORD_SCHEMA_VERSION, VOLATILE_FIELDS, result_key, run_batch
from avsync.batch.sniff import Sniff, sniff
from avsync.batch.summary import BatchSummary, FailedFile, SlowFile, final_records, format_summary, summarize
from avsync.batch.tasks import NamedTask, TaskSpec, resolve_task, run_scorer, task_version

__all__ = [
    "RECORD_SCHEMA_VERSION",
    "VOLATILE_FIELDS",
    "BatchSummary",
    "Engine",
    "InProcessEngine",
    "InputItem",
    "Job",
    "LocalEngine",
    "NamedTask",
    "RayEngine",
    "ResultsLog",
    "FailedFile",
    "SlowFile",
    "Sniff",
    "TaskSpec",
    "discover_inputs",
    "final_records",
    "format_summary",
    "make_engine",
    "read_results",
    "resolve_task",
    "result_key",
    "run_batch",
    "run_scorer",
    "sniff",
    "summarize",
    "task_version",
]
