"""lm-eval hooks of the EmoReAlM tasks: a shim over :mod:`emorealm.benchmarks.emorealm`, where they live."""

from emorealm.benchmarks.emorealm import (  # noqa: F401  (named by the task YAML)
    TASK_OPTIONS,
    doc_to_choice,
    doc_to_target_index,
    doc_to_text,
    f1_yes_no,
    load_modality_agreement,
    load_reasoning_basic_audio,
    load_reasoning_basic_video,
    load_reasoning_stress_audio,
    load_reasoning_stress_video,
    mean_defined,
    process_results,
    process_results_ll,
    total,
)
