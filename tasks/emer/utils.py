"""lm-eval hooks of the emer task. Logic lives in emorealm.datasets.emer and emorealm.emer_task."""

from __future__ import annotations

import logging
from typing import Any

from emorealm.datasets.common import task_dataset
from emorealm.datasets.emer import load_emer
from emorealm.emer_task import agg_emotion_f1, doc_to_text, judge_settings, process_results  # noqa: F401
from emorealm.metrics import mean_defined, total  # noqa: F401

# the task options load_emer and judge_settings read (checked by emorealm.options_check; contracts §2)
TASK_OPTIONS = ("emer_dir", "emer_description_file", "emer_openset_file", "emer_video_dir", "emer_audio_dir",
                "judge", "judge_rubrics", "judge_timeout", "judge_retries")


def load(**metadata: Any):
    """lm-eval ``custom_dataset``: task options arrive as keyword arguments (unknown ones ignored)."""
    settings = judge_settings(metadata)
    result = load_emer(**metadata)
    for doc in result.docs:
        doc["_judge"] = settings
    dataset = task_dataset("emer", result)
    if settings["spec"] == "none":
        logging.getLogger("emorealm.tasks").info(
            "emer: no judge configured (task option judge=openai:<model> or $EMOREALM_JUDGE); judge scores "
            "skipped, judge-free emotion scores only")
    return dataset
