"""Up-front checks of what a user typed: task options, generation kwargs, model names.

lm-eval hands one metadata dict to every task's loader, and loaders ignore keys they do not know
(docs/contracts.md §2), so a typo such as ``clip_dri=...`` would run silently with the default.
Each task module therefore declares the options it reads (``TASK_OPTIONS``, and optionally
``IGNORED_OPTIONS`` for keys it accepts and deliberately ignores); a key no task of the run declares
is an error that lists the known ones with a "did you mean". Likewise for ``--gen-kwargs``
(the adapter's ``GEN_KWARGS``, else :data:`GEN_KWARGS`) and for adapter and preset names.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from emorealm.errors import ConfigError
from emorealm.options import GEN_KWARGS, parse_generation, parse_kv  # noqa: F401  (parse_kv re-exported)
from emorealm.suggest import did_you_mean, unknown_names_message

# options every task takes (emorealm.paths.resolve_data_root)
COMMON_TASK_OPTIONS = ("data_root",)


def declared_options(task) -> set[str] | None:
    """The options a loaded lm-eval task declares, or None when its module declares none."""
    fn = getattr(getattr(task, "config", None), "custom_dataset", None)
    while isinstance(fn, functools.partial):
        fn = fn.func
    glb = getattr(fn, "__globals__", None)
    if not glb or "TASK_OPTIONS" not in glb:
        return None
    return set(glb["TASK_OPTIONS"]) | set(glb.get("IGNORED_OPTIONS", ())) | set(COMMON_TASK_OPTIONS)


def check_task_options(options: dict[str, Any], tasks: dict[str, Any], label: str) -> None:
    """Refuse ``--task-args`` keys that no task of this run reads. ``tasks``: name -> loaded task;
    ``label``: the task names as the user gave them.

    A run with a task that declares nothing (e.g. a task from another package) is not checked.
    """
    known: set[str] = set()
    for task in tasks.values():
        names = declared_options(task)
        if names is None:
            return
        known |= names
    unknown = [k for k in options if k not in known]
    if unknown:
        raise ConfigError(unknown_names_message(f"--task-args key(s) for {label}",
                                                unknown, known))


def check_gen_kwargs(gen_kwargs: dict[str, Any], adapter_cls, adapter: str) -> None:
    """Refuse ``--gen-kwargs`` keys the adapter does not read (they would be recorded and ignored)
    and values it could not use (``do_sample=ture``, ``max_gen_toks=many``), before any model loads."""
    known = tuple(getattr(adapter_cls, "GEN_KWARGS", GEN_KWARGS))
    unknown = [k for k in gen_kwargs if k not in known]
    if unknown:
        raise ConfigError(unknown_names_message(f"--gen-kwargs key(s) for adapter {adapter!r}", unknown, known))
    parse_generation(gen_kwargs, default_max_tokens=1)


def check_model_name(name: str, presets: Iterable[str], adapters: Iterable[str]) -> None:
    """Refuse a ``--model`` that is neither a preset nor an adapter, suggesting from both."""
    presets, adapters = sorted(presets), sorted(adapters)
    if name in presets or name.removeprefix("emorealm-") in adapters:
        return
    raise ConfigError(f"unknown --model {name!r}{did_you_mean(name, presets + adapters)}; adapters: "
                      f"{', '.join(adapters)}; presets: {', '.join(presets)} (python -m emorealm adapters lists them)")
