"""lm-eval hooks of the emer task: a shim over :mod:`emorealm.benchmarks.emer`, where they live."""

from emorealm.benchmarks.emer import *  # noqa: F403  (its __all__: the hooks the task YAML names)
