"""Make emorealm's adapters known to lm-eval as ``emorealm-<name>``.

lm-eval 0.4.13 loads no model plugins through entry points, and its CLI builds the model before it
imports any task's ``utils.py``. So the mechanism is explicit: ``register_all()`` adds lazy entries
(``module:Class`` targets) to lm-eval's model registry for every adapter in the entry-point group
``emorealm.model_adapters``. Our CLI calls it, and ``python -m emorealm lm-eval ...`` calls it
before handing every flag to lm-eval's own CLI.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from emorealm.errors import ConfigError

GROUP = "emorealm.model_adapters"
# built-ins, so a source checkout works even before ``pip install`` wrote entry points
BUILTIN = {
    "hf": "emorealm.model_adapters.hf:HFAdapter",
    "vllm": "emorealm.model_adapters.vllm:VLLMAdapter",
    "openai": "emorealm.model_adapters.openai:OpenAIAdapter",
}


def adapter_targets() -> dict[str, str]:
    """name -> ``module:Class`` of every known adapter (built-ins first, plugins may add)."""
    targets = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def register_all() -> dict[str, str]:
    """Register every adapter with lm-eval (idempotent); returns name -> target."""
    from lm_eval.api.registry import model_registry

    targets = adapter_targets()
    for name, target in targets.items():
        key = f"emorealm-{name}"
        if key not in model_registry:
            model_registry.register(key, target=target)
    return targets


def get_adapter_class(name: str):
    """The LM class for adapter ``name`` (``hf``) or its lm-eval name (``emorealm-hf``)."""
    from lm_eval.api.registry import get_model

    targets = register_all()
    short = name.removeprefix("emorealm-")
    if short not in targets:
        raise ConfigError(f"unknown adapter {name!r}; known adapters: {', '.join(sorted(targets))}")
    return get_model(f"emorealm-{short}")
