"""``emorealm adapters``: list the model adapters (entry-point group ``emorealm.model_adapters``).

For each adapter: its ``--model`` name, its lm-eval name (``emorealm-<name>``), where it lives,
whether it can be used here (an adapter whose optional dependency is missing says which
``pip install`` fixes it; one whose module fails to import says why) and its ``--model-args``
options with their defaults.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
from dataclasses import asdict, dataclass, field
from typing import Any

# optional dependencies of built-in adapters: (modules that must be importable, the fix)
REQUIREMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "vllm": (("vllm",), "pip install 'emorealm[vllm]'"),
}


@dataclass
class OptionInfo:
    name: str
    default: Any
    help: str = ""


@dataclass
class AdapterInfo:
    name: str
    lm_eval_name: str
    target: str
    status: str  # "ok", "missing dependency", "import error"
    detail: str = ""
    options: list[OptionInfo] = field(default_factory=list)


def adapter_options(cls) -> list[OptionInfo]:
    """Options of an adapter class: its ``OPTIONS`` table (name -> (default, help)) when it has one,
    else the keyword parameters of its ``__init__``."""
    table = getattr(cls, "OPTIONS", None)
    if isinstance(table, dict):
        out = []
        for name, spec in table.items():
            default, text = spec if isinstance(spec, tuple) else (None, str(spec))
            out.append(OptionInfo(name, default, text))
        return out
    out = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        out.append(OptionInfo(p.name, None if p.default is p.empty else p.default))
    return out


def _missing(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for mod in modules:
        try:
            if importlib.util.find_spec(mod) is None:
                missing.append(mod)
        except (ImportError, ValueError):
            missing.append(mod)
    return missing


def describe(name: str, target: str) -> AdapterInfo:
    """Import ``target`` (``module:Class``) and describe the adapter, never raising."""
    info = AdapterInfo(name, f"emorealm-{name}", target, "ok")
    module_name, _, attr = target.partition(":")
    needs, fix = REQUIREMENTS.get(name, ((), ""))
    needs = tuple(getattr_safe(module_name, "REQUIRES") or needs)
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == module_name.split(".")[0]:  # the adapter's own module is absent
            info.status, info.detail = "import error", f"{exc}; reinstall the package that provides it"
        else:
            info.status, info.detail = "missing dependency", f"{exc}; fix: {fix or f'pip install {exc.name}'}"
        return info
    except Exception as exc:  # a plugin that fails to import must not break the listing
        info.status, info.detail = "import error", f"{type(exc).__name__}: {exc}"
        return info
    info.options = adapter_options(cls)
    missing = _missing(needs)
    if missing:
        hint = getattr(importlib.import_module(module_name), "INSTALL_HINT", None) or fix
        info.status = "missing dependency"
        info.detail = f"not installed: {', '.join(missing)}; fix: {hint or 'pip install ' + ' '.join(missing)}"
    return info


def getattr_safe(module_name: str, attr: str) -> Any:
    """A module attribute without importing heavy dependencies twice (None when unavailable)."""
    try:
        return getattr(importlib.import_module(module_name), attr, None)
    except Exception:
        return None


def list_adapters() -> list[AdapterInfo]:
    from emorealm.model_adapters.registry import adapter_targets

    return [describe(name, target) for name, target in adapter_targets().items()]


def add_parser(sub) -> None:
    p = sub.add_parser("adapters", help="list model adapters, their status and options", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--families", action="store_true",
                   help="the model families the hf adapter runs: modalities, how video is given, vLLM support")
    p.add_argument("name", nargs="?", help="show only this adapter")
    p.set_defaults(func=_run)


def _fmt_default(value: Any) -> str:
    return "" if value is None else repr(value)


def _run(args) -> int:
    from emorealm.errors import ConfigError

    infos = list_adapters()
    if args.families and not args.name:
        infos = []
    if args.name:
        short = args.name.removeprefix("emorealm-")
        infos = [i for i in infos if i.name == short]
        if not infos:
            known = ", ".join(i.name for i in list_adapters())
            raise ConfigError(f"unknown adapter {args.name!r}; known adapters: {known}")
    if args.families and args.json:
        print(json.dumps(_families(), indent=2))
        return 0
    if args.json:
        print(json.dumps([asdict(i) for i in infos], indent=2, default=repr))
        return 0
    show_families = args.families or (args.name and infos[0].name == "hf")
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for info in infos:
        colour = "green" if info.status == "ok" else "yellow"
        console.print(f"[bold]{info.name}[/]  (lm-eval: {info.lm_eval_name})  {info.target}  "
                      f"[{colour}]{info.status}[/]", highlight=False)
        if info.detail:
            console.print(f"  {info.detail}", highlight=False, markup=False)
        if info.options:
            table = Table(show_header=True, box=None, padding=(0, 2), pad_edge=True)
            table.add_column("option")
            table.add_column("default")
            table.add_column("meaning")
            for opt in info.options:
                table.add_row(opt.name, _fmt_default(opt.default), opt.help)
            console.print(table)
        console.print()
    if show_families:
        table = Table(title="hf adapter: model families (docs/adapters.md)", show_header=True, box=None,
                      padding=(0, 2))
        for col in ("model_type", "modalities", "video", "vllm"):
            table.add_column(col, overflow="fold")
        for row in _families():
            table.add_row(row["model_type"], row["modalities"] if row["hf"] == "supported" else row["hf"],
                          row["video"], row["vllm"])
        console.print(table)
    return 0


def _families() -> list[dict[str, str]]:
    from emorealm.model_adapters.hf_models import family_rows

    return family_rows()
