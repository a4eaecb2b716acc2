"""Same seed, same inputs → the same results file (but for timestamps and durations), also when sampling."""

from __future__ import annotations

import difflib
import json

import pytest
from _rel_fixtures import *  # noqa: F403  (fixtures)
from _rel_helpers import normalized_results, results_file, samples_by_task, stamp_of

pytestmark = pytest.mark.slow


def _run(out, seed, rel_sample_root):
    from emorealm.runner import RunConfig, evaluate

    # sampling (the released temperature) so that the seed matters at all
    cfg = RunConfig(model="tiny-omni", tasks=["emorealm"], data_root=str(rel_sample_root), output=str(out),
                    limit=1, seed=seed, gen_kwargs="temperature=0.7,do_sample=true,max_gen_toks=4")
    _, path = evaluate(cfg)
    return path


def test_same_seed_same_results_file(tmp_path, rel_tiny, rel_sample_root):
    a = _run(tmp_path / "a", 11, rel_sample_root)
    b = _run(tmp_path / "b", 11, rel_sample_root)
    ra, rb = normalized_results(a, resumed=False), normalized_results(b, resumed=False)
    assert ra == rb, "\n".join(difflib.unified_diff(ra.splitlines(), rb.splitlines(), lineterm="", n=1))
    sa = samples_by_task(a.parent, stamp_of(a))
    sb = samples_by_task(b.parent, stamp_of(b))
    assert sum(len(v) for v in sa.values()) == 5 and sa == sb
    assert json.loads(ra)["emorealm"]["protocol"]["decoding"] == "sampling"

    # the seed is not ignored: another seed samples other answers
    c = _run(tmp_path / "c", 12, rel_sample_root)
    sc = samples_by_task(c.parent, stamp_of(c))
    resps = lambda s: [r["resps"] for t in sorted(s) for r in s[t]]  # noqa: E731
    assert resps(sc) != resps(sa)
    assert json.loads(results_file(c.parent).read_text())["emorealm"]["protocol"]["seed"] == 12
