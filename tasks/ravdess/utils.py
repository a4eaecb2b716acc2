"""lm-eval hooks of the ravdess tasks. Logic lives in emorealm.benchmarks.ravdess and emorealm.benchmarks.recognition."""

from __future__ import annotations

from typing import Any

from emorealm.benchmarks.common import task_dataset
from emorealm.benchmarks.ravdess import load_ravdess
from emorealm.benchmarks.recognition import (  # noqa: F401  (used by the YAML)
    agg_acc,
    agg_macro_f1,
    agg_uar,
    doc_to_choice,
    doc_to_target_index,
    doc_to_text,
    process_results,
    process_results_ll,
)
from emorealm.scoring.aggregations import total  # noqa: F401

# the task options load_ravdess reads (checked by emorealm.options_check; docs/contracts.md §2)
TASK_OPTIONS = ("ravdess_dir", "include_calm", "include_song", "include_video_only", "ravdess_video_dir",
                "ravdess_audio_dir")


def load(**metadata: Any):
    """lm-eval custom_dataset: task options arrive as keyword arguments (unknown ones ignored)."""
    return task_dataset("ravdess", load_ravdess(**metadata))
