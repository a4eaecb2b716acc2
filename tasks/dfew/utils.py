"""lm-eval hooks of the dfew tasks: a shim over :mod:`emorealm.benchmarks.dfew`, where they live."""

from emorealm.benchmarks.dfew import *  # noqa: F403  (its __all__: the hooks the task YAML names)
