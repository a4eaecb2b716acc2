"""lm-eval hooks of the ravdess tasks: a shim over :mod:`emorealm.benchmarks.ravdess`, where they live."""

from emorealm.benchmarks.ravdess import *  # noqa: F403  (its __all__: the hooks the task YAML names)
