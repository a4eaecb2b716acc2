"""Peak memory of a run must not grow with the number of samples.

    python bench/memory.py [--small 100] [--large 1000] [--model-args ...] [--keep DIR]

Writes one synthetic EmoReAlM data root with ``--large`` questions over ``--clips`` distinct clips,
then runs ``python -m emorealm run --model tiny-omni`` on the first ``--small`` and on all ``--large``
questions (``--limit`` per task), each in a fresh process, and reads each process's own peak RSS
(``os.wait4``). Both runs keep the journal and the samples log, as a user's run does. The last line
is ``memory: <large/small> (target <= 1.15)``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emorealm.benchmarks.emorealm import TASK_KEYS
from emorealm.sample_data.synthetic import write_emorealm_root

TARGET = 1.15


def peak_rss_run(args: list[str], log: Path) -> tuple[float, float]:
    """Run ``python -m emorealm *args``; return (peak RSS in MiB, seconds). Raises on failure."""
    t0 = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "emorealm", *args], stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    return usage.ru_maxrss / 1024, time.time() - t0  # ru_maxrss is KiB on Linux


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", type=int, default=100, help="samples in the small run")
    p.add_argument("--large", type=int, default=1000, help="samples in the large run")
    p.add_argument("--clips", type=int, default=50, help="distinct clips the questions cycle over")
    p.add_argument("--model-args", default="video=false",
                   help="tiny-omni options; audio-only by default so that 1100 samples fit a CPU box "
                        "(pass '' for full media; decoded frames are bounded by the media memo's byte cap)")
    p.add_argument("--gen-kwargs", default="max_gen_toks=1")
    p.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temp dir)")
    a = p.parse_args(argv)
    n_tasks = len(TASK_KEYS)
    if a.small % n_tasks or a.large % n_tasks:
        p.error(f"sample counts must be multiples of {n_tasks} (the questions cycle over {n_tasks} tasks)")
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="emorealm-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    root = write_emorealm_root(work / "data", n_questions=a.large, n_clips=a.clips, seconds=1.0, size=(64, 48))
    peaks = {}
    for n in (a.small, a.large):
        out = work / f"out-{n}"
        args = ["run", "--model", "tiny-omni", "--tasks", "emorealm", "--data-root", str(root),
                "--model-args", a.model_args, "--gen-kwargs", a.gen_kwargs, "--limit", str(n // n_tasks),
                "--output", str(out), "--overwrite"]
        peaks[n], secs = peak_rss_run(args, work / f"run-{n}.log")
        print(f"{n:>6} samples: peak RSS {peaks[n]:8.1f} MiB  ({secs:.0f} s)", flush=True)
    ratio = peaks[a.large] / peaks[a.small]
    print(f"memory: {ratio:.3f} (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
