"""How far training moved a checkpoint from the base model on the held-out questions, read from
the samples files the harness wrote for both: the share of questions whose chosen option changed,
and the mean |Δ log p(correct option)|. Zero movement means no arm can differ from another."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _scores(eval_dir: Path) -> dict[str, tuple[int, float]]:
    """question id -> (chosen option index, log p(correct option)) over every samples file of a cell
    (the probe's questions have their own ids)."""
    out: dict[str, tuple[int, float]] = {}
    for f in sorted(eval_dir.rglob("samples_*_ll_*.jsonl")):
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            ll = [float(x[0]) for x in r["filtered_resps"]]
            if any(math.isnan(v) for v in ll):
                continue
            out[r["doc"]["id"]] = (max(range(len(ll)), key=ll.__getitem__), ll[int(r["target"])])
    return out


def movement(cell_eval: Path, base_eval: Path) -> dict[str, Any]:
    """``{"flip_rate", "mean_abs_dlogp", "n"}`` of a cell against the base model (same questions)."""
    a, b = _scores(cell_eval), _scores(base_eval)
    ids = sorted(set(a) & set(b))
    if not ids:
        return {"flip_rate": math.nan, "mean_abs_dlogp": math.nan, "n": 0}
    flips = sum(a[i][0] != b[i][0] for i in ids)
    return {"flip_rate": flips / len(ids), "mean_abs_dlogp": sum(abs(a[i][1] - b[i][1]) for i in ids) / len(ids),
            "n": len(ids)}
