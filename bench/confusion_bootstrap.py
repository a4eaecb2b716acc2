"""Cluster bootstrap of UAR at DFEW size: the one-matrix-product path vs the generic per-replicate one.

Both use the same seed and draws (``emorealm.evaluation.confusion_bootstrap`` reproduces
``emorealm.evaluation.clustered_stderr.cluster_bootstrap_se``); the run checks the two SEs agree, then prints the
seconds of each and, last, ``confusion_bootstrap: <generic ÷ fast> (target >= 10)``.
Synthetic items: ``--n`` clips with one question each, 7 classes, 60 % correct, 10 % invalid.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from emorealm.benchmarks.recognition import agg_uar
from emorealm.evaluation.clustered_stderr import cluster_bootstrap_se
from emorealm.evaluation.confusion_bootstrap import bootstrap_se


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2341)  # one DFEW fold's test set
    ap.add_argument("--iters", type=int, default=200)
    args = ap.parse_args()
    rng = random.Random(0)
    classes = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    items, clusters = [], []
    for i in range(args.n):
        gold = rng.choice(classes)
        r = rng.random()
        pred = gold if r < 0.6 else (None if r < 0.7 else rng.choice(classes))
        items.append([gold, pred, False])
        clusters.append(f"clip{i}")
    t0 = time.perf_counter()
    generic = cluster_bootstrap_se(items, clusters, agg_uar, iters=args.iters, seed=0)
    t1 = time.perf_counter()
    fast = bootstrap_se(items, clusters, "uar", iters=args.iters, seed=0)
    t2 = time.perf_counter()
    assert math.isclose(generic, fast, rel_tol=1e-9), (generic, fast)
    print(f"generic cluster_bootstrap_se: {t1 - t0:.2f} s; confusion-matrix path: {t2 - t1:.3f} s; SE {fast:.5f}")
    print(f"confusion_bootstrap: {(t1 - t0) / (t2 - t1):.1f} (target >= 10)")


if __name__ == "__main__":
    main()
