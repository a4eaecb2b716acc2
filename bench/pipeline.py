"""Wall time of N questions with inputs prepared ahead ÷ prepared in series (the HF adapter).

Model: tiny-omni (the embedded Qwen2.5-Omni twin) with torch limited to one thread; one
preparation worker (``prefetch=2``: at most two questions prepared ahead). Workload: N distinct
synthetic clips (the decode cache is off, so every question decodes its clip, resizes its frames
and runs the processor) scored on four multi-token options from the cached prefix. The clip length
is chosen so that preparing a question costs about as much as its forward passes: both are
measured in series and printed. Runs alternate (series, ahead, series, ...); the cheapest of each
is kept. Results of the two modes are checked equal. Last line:
``pipeline: <ahead ÷ series> (target <= 0.7)``; 0.5 is the ideal for equal costs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ["EMOREALM_MEDIA_CACHE"] = "0"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

OPTIONS = [" (A) happiness, a rising pitch", " (B) sadness, a trembling voice", " (C) anger, loud shouting",
           " (D) surprise, a soft sigh"]
PROMPT = "Which emotion does the person feel? (A) happiness (B) sadness (C) anger (D) surprise"


def _requests(clips):
    from lm_eval.api.instance import Instance

    reqs = []
    for k, clip in enumerate(clips):
        doc = {"id": f"q{k}", "_task": "bench", "media": {"video": str(clip), "audio": None, "audio_source": "video"}}
        reqs += [Instance("loglikelihood", doc, (PROMPT, o), j, task_name="bench", doc_id=k)
                 for j, o in enumerate(OPTIONS)]
    return reqs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=16, help="questions per run")
    ap.add_argument("--seconds", type=float, default=3.0, help="clip length")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from emorealm.model_adapters.hf import HFAdapter
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    from emorealm.media.synth import write_av_clip

    folder = str(ensure_tiny_omni())
    with tempfile.TemporaryDirectory() as tmp:
        clips = [write_av_clip(Path(tmp) / f"c{k}.mp4", seconds=args.seconds, seed=k) for k in range(args.n)]
        series = HFAdapter(pretrained=folder, prefetch=0)
        ahead = HFAdapter(pretrained=folder, prefetch=2)
        # the two costs, measured in series on one question
        doc = _requests(clips[:1])[0].doc
        t0 = time.perf_counter()
        prepared = series._prepare_loglikelihood(doc, PROMPT, OPTIONS)
        t1 = time.perf_counter()
        series._loglikelihood_prepared([prepared])
        t2 = time.perf_counter()
        print(f"one question: preparation {1000 * (t1 - t0):.0f} ms, forward passes {1000 * (t2 - t1):.0f} ms")
        best = {"series": float("inf"), "ahead": float("inf")}
        cpu = {}
        outs = {}
        for _ in range(args.repeats):
            for name, lm in (("series", series), ("ahead", ahead)):
                t, c = time.perf_counter(), time.process_time()
                outs[name] = lm.loglikelihood(_requests(clips), disable_tqdm=True)
                wall = time.perf_counter() - t
                if wall < best[name]:
                    best[name], cpu[name] = wall, (time.process_time() - c) / wall
        # cores busy on average: about 1 in series; up to 2 when preparation overlaps the forward
        print(f"cores busy: in series {cpu['series']:.2f}, prepared ahead {cpu['ahead']:.2f} "
              f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        same = all(abs(a[0] - b[0]) < 1e-5 for a, b in zip(outs["series"], outs["ahead"], strict=True))
        print(f"{args.n} questions: in series {best['series']:.2f} s, prepared ahead {best['ahead']:.2f} s; "
              f"results equal: {same}")
        if not same:
            raise SystemExit("prepared-ahead results differ from in-series results")
        print(f"pipeline: {best['ahead'] / best['series']:.2f} (target <= 0.7)")


if __name__ == "__main__":
    main()
