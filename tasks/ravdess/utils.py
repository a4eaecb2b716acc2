"""lm-eval hooks of the ravdess tasks: a shim over :mod:`emorealm.benchmarks.ravdess`, where they live."""

from emorealm.benchmarks.ravdess import (  # noqa: F401  (named by the task YAML)
    TASK_OPTIONS,
    agg_acc,
    agg_macro_f1,
    agg_uar,
    doc_to_choice,
    doc_to_target_index,
    doc_to_text,
    load,
    process_results,
    process_results_ll,
    total,
)
