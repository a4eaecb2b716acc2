"""``emorealm adapters``: every registered adapter, its lm-eval name, status and options."""

from __future__ import annotations

import json

import pytest

from emorealm.cli import main
from emorealm.commands import adapters_cmd


def test_lists_builtins_with_options_and_lm_eval_names(capsys):
    assert main(["adapters", "--json"]) == 0
    infos = {i["name"]: i for i in json.loads(capsys.readouterr().out)}
    assert {"hf", "vllm", "openai"} <= set(infos)
    hf = infos["hf"]
    assert hf["lm_eval_name"] == "emorealm-hf" and hf["status"] == "ok"
    opts = {o["name"]: o for o in hf["options"]}
    assert {"pretrained", "dtype", "device_map", "modalities", "trust_remote_code", "fps"} <= set(opts)
    assert opts["trust_remote_code"]["default"] is False


def test_table_output_and_single_adapter(capsys):
    assert main(["adapters", "hf"]) == 0
    out = capsys.readouterr().out
    assert "emorealm-hf" in out and "device_map" in out and "vllm" not in out.split("\n")[0]


def test_unknown_adapter_lists_known_ones(capsys):
    assert main(["adapters", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown adapter 'nope'" in err and "hf" in err


def test_missing_dependency_names_the_pip_fix(monkeypatch):
    monkeypatch.setitem(adapters_cmd.REQUIREMENTS, "hf", (("surely_not_installed_mod",), "pip install 'emorealm[x]'"))
    info = adapters_cmd.describe("hf", "emorealm.model_adapters.hf:HFAdapter")
    assert info.status == "missing dependency" and "pip install 'emorealm[x]'" in info.detail


def test_plugin_that_fails_to_import_is_reported_not_fatal(tmp_path, monkeypatch):
    (tmp_path / "badplugin.py").write_text("import surely_not_installed_mod\nclass A: pass\n")
    (tmp_path / "brokenplugin.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    missing = adapters_cmd.describe("bad", "badplugin:A")
    assert missing.status == "missing dependency" and "pip install surely_not_installed_mod" in missing.detail
    broken = adapters_cmd.describe("broken", "brokenplugin:A")
    assert broken.status == "import error" and "boom" in broken.detail


def test_plugin_options_from_signature(tmp_path, monkeypatch):
    (tmp_path / "goodplugin.py").write_text(
        "from lm_eval.api.model import LM\n"
        "class MyLM(LM):\n"
        "    def __init__(self, endpoint: str = 'http://x', retries: int = 3, **kw):\n"
        "        super().__init__()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    info = adapters_cmd.describe("mine", "goodplugin:MyLM")
    assert info.status == "ok"
    assert [(o.name, o.default) for o in info.options] == [("endpoint", "http://x"), ("retries", 3)]


def test_unknown_adapter_in_run_is_clear():
    from emorealm.errors import ConfigError
    from emorealm.model_adapters.registry import get_adapter_class

    with pytest.raises(ConfigError, match="unknown adapter 'nope'; known adapters: .*hf"):
        get_adapter_class("nope")
