"""lm-eval hooks of the dfew tasks. Logic lives in emorealm.benchmarks.dfew and emorealm.benchmarks.recognition."""

from __future__ import annotations

from typing import Any

from emorealm.benchmarks.common import task_dataset
from emorealm.benchmarks.dfew import load_dfew
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

# the task options load_dfew reads (checked by emorealm.options_check; docs/contracts.md §2)
TASK_OPTIONS = ("dfew_dir", "fold", "dfew_split", "dfew_split_file", "dfew_clip_dir", "dfew_audio_dir")


def load(**metadata: Any):
    """lm-eval custom_dataset: task options arrive as keyword arguments (unknown ones ignored)."""
    return task_dataset("dfew", load_dfew(**metadata))
