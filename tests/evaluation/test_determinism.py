"""Same seed, same inputs → the same results file (but for timestamps and durations), also when sampling."""

from __future__ import annotations

import difflib
import functools
import json

import pytest

from emorealm.evaluation.runner import strip_addresses

from support.runs import normalized_results, results_file, run_cli, samples_by_task, stamp_of


def test_results_hold_no_memory_addresses():
    def fn():
        return None

    cfg = {"doc_to_text": fn, "custom_dataset": functools.partial(fn), "note": "<object at 0x7f00aa>", "n": 3,
           "x": None, "tags": {"a"}, "ok": [1.5, True]}
    out = strip_addresses(cfg)
    text = json.dumps(out)
    assert "0x" not in text and out["n"] == 3 and out["x"] is None and out["ok"] == [1.5, True]
    assert out["doc_to_text"].endswith("fn>") and out["tags"] == ["a"]


def _run(out, seed, root):
    # sampling (the released temperature) so that the seed matters at all; separate processes, as a user runs
    proc = run_cli("run", "--model", "tiny-omni", "--tasks", "emorealm", "--data-root", str(root), "--limit", "1",
               "--seed", str(seed), "--gen-kwargs", "temperature=0.7,do_sample=true,max_gen_toks=4",
               "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results_file(out / "tiny-omni")


@pytest.mark.slow
def test_same_seed_same_results_file(tmp_path, tiny_omni_dir, sample_root):
    a = _run(tmp_path / "a", 11, sample_root)
    b = _run(tmp_path / "b", 11, sample_root)
    ra, rb = normalized_results(a, resumed=False), normalized_results(b, resumed=False)
    assert ra == rb, "\n".join(difflib.unified_diff(ra.splitlines(), rb.splitlines(), lineterm="", n=1))
    sa = samples_by_task(a.parent, stamp_of(a))
    sb = samples_by_task(b.parent, stamp_of(b))
    assert sum(len(v) for v in sa.values()) == 5 and sa == sb
    assert json.loads(ra)["emorealm"]["protocol"]["decoding"] == "sampling"

    # the seed is not ignored: another seed samples other answers
    c = _run(tmp_path / "c", 12, sample_root)
    sc = samples_by_task(c.parent, stamp_of(c))
    resps = lambda s: [r["resps"] for t in sorted(s) for r in s[t]]  # noqa: E731
    assert resps(sc) != resps(sa)
    assert json.loads(c.read_text())["emorealm"]["protocol"]["seed"] == 12
