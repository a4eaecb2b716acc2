"""lm-eval hooks of the dfew tasks: a shim over :mod:`emorealm.benchmarks.dfew`, where they live."""

from emorealm.benchmarks.dfew import (  # noqa: F401  (named by the task YAML)
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
