"""lm-eval hooks of the EmoReAlM tasks: a shim over :mod:`emorealm.benchmarks.emorealm`, where they live."""

from emorealm.benchmarks.emorealm import *  # noqa: F403  (its __all__: the hooks the task YAML names)
