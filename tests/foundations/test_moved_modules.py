"""The import paths that moved in the layout of issue 12 keep working for one release, with a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("old,new", [("emorealm.inputs", "emorealm.model_adapters.inputs"),
                                     ("emorealm.tiny", "emorealm.model_adapters.tiny_models.omni")])
def test_old_path_warns_and_is_the_moved_module(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_from_import_of_old_paths_in_a_fresh_interpreter():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "try:\n    from emorealm.inputs import build_inputs\nexcept DeprecationWarning as w: print('warned', w)\n"
            "warnings.simplefilter('ignore')\n"
            "from emorealm.inputs import build_inputs\nfrom emorealm.tiny import ensure_tiny_omni\n"
            "import emorealm.model_adapters.inputs as m, emorealm.model_adapters.tiny_models.omni as t\n"
            "print(build_inputs is m.build_inputs, ensure_tiny_omni is t.ensure_tiny_omni)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "warned emorealm.inputs moved to emorealm.model_adapters.inputs" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "True True"
