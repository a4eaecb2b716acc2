"""Issue 19: the plugin example of docs/adapters.md, taken word for word, writes results that
`submit` accepts (the runner writes the whole emorealm block for any adapter)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from emorealm.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def _plugin_source() -> str:
    text = DOC.read_text()
    section = text[text.index("## Writing a plugin adapter"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_docs_plugin_example_results_pass_submit(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "plugin" / "my_adapter"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "adapter.py").write_text(_plugin_source())
    monkeypatch.syspath_prepend(str(tmp_path / "plugin"))
    # what the plugin's entry point would register after `pip install -e .`
    from emorealm.model_adapters import registry as lm_eval_bridge

    monkeypatch.setitem(lm_eval_bridge.BUILTIN, "echo", "my_adapter.adapter:EchoAdapter")
    out = tmp_path / "results"
    assert main(["run", "--model", "echo", "--tasks", "reasoning_basic_audio", "--output", str(out)]) == 0
    (res,) = out.rglob("results_*.json")
    meta = json.loads(res.read_text())["emorealm"]
    from emorealm import __version__

    assert meta["harness_version"] == __version__ and meta["adapter"] == "echo"
    assert meta["model"] == "echo-A" and meta["model_sha256"].startswith("sha256:")
    assert {"protocol", "packages", "data_fingerprint", "n_errors", "task_options"} <= set(meta)
    board = tmp_path / "leaderboard.json"
    capsys.readouterr()
    assert main(["submit", str(res), "--leaderboard", str(board), "--allow-smoke"]) == 0, capsys.readouterr().err
    entries = json.loads(board.read_text())
    entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
    assert len(entries) == 1 and entries[0]["harness_version"] == __version__
    sys.modules.pop("my_adapter.adapter", None)
    sys.modules.pop("my_adapter", None)
