"""lm-eval hooks of the emer task: a shim over :mod:`emorealm.benchmarks.emer`, where they live."""

from emorealm.benchmarks.emer import (  # noqa: F401  (named by the task YAML)
    TASK_OPTIONS,
    agg_emotion_f1,
    doc_to_text,
    judge_settings,
    load,
    mean_defined,
    process_results,
    total,
)
