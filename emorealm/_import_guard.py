"""Repair ``emorealm`` when a folder that *holds* a clone named ``emorealm`` is the working directory.

Python then finds the clone's root (no ``__init__.py``) as a namespace package ``emorealm`` before
the installed package (an editable install's finder runs after the path finder), so
``emorealm.__version__`` is missing and the clone's folders (its output folder ``results/``,
``docs/``) pass for subpackages of ``emorealm``. Submodules still load through the installation's finder, so the entry points
(``python -m emorealm``, the ``emorealm`` script) import this module first: it puts the real package
in the namespace package's place.

A standalone script (``python my_eval.py`` with ``import emorealm``) gets the namespace package
before any emorealm code runs, so nothing here can repair it; it happens only with a default-mode
editable install. A regular install (a real package on ``sys.path`` beats a namespace portion) and
``pip install -e . --config-settings editable_mode=strict`` (a link tree on ``sys.path``) are not
affected, as checked by hand (docs/getting-started.md says so).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def repair() -> bool:
    """Replace a namespace-package ``emorealm`` by this package; True when it had to."""
    current = sys.modules.get("emorealm")
    if current is None or getattr(current, "__file__", None):
        return False
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("emorealm", here / "__init__.py",
                                                  submodule_search_locations=[str(here)])
    module = importlib.util.module_from_spec(spec)
    # submodules imported so far (this one, the entry point) stay reachable as attributes
    for name, mod in list(sys.modules.items()):
        if name.startswith("emorealm.") and name.count(".") == 1:
            setattr(module, name.split(".")[1], mod)
    sys.modules["emorealm"] = module
    spec.loader.exec_module(module)
    return True


repair()
