"""Helpers of the multi-process training tests: a training script run under torchrun / accelerate."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    from emorealm.training.config import config_from_dict
    from emorealm.training.trainer import Trainer
    cfg = config_from_dict(json.loads(open(sys.argv[1]).read()))
    tr = Trainer(cfg)
    res = tr.run()
    if tr.acc.is_main_process:
        json.dump({"world": tr.acc.num_processes, "type": str(tr.acc.distributed_type), "steps": res.steps,
                   "batch_size": tr.batch_size,
                   "wrapper": type(tr.policy).__name__}, open(cfg.output_dir + "/launch.json", "w"))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_prefs(folder: Path, n: int, seed: int) -> Path:
    from emorealm.training.sample_prefs import toy_rows

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in toy_rows(folder, n, seed=seed))
    return folder / "prefs.jsonl"


def launch(tmp: Path, name: str, cfg: dict, nproc: int, accelerate_config: str | None = None,
           extra_env: dict | None = None, timeout: int = 600, cpu_flag: bool = True) -> subprocess.CompletedProcess:
    """Run the training script with ``cfg`` on ``nproc`` CPU processes (torchrun, or accelerate launch
    with ``accelerate_config``); ``cfg['output_dir']`` is set to ``tmp/name``.

    ``cpu_flag``: pass ``--cpu`` to accelerate launch. Leave it off for FSDP / DeepSpeed configs: with
    ``--cpu`` accelerate ignores them and starts one plain process; without it, it exports the
    config's ``FSDP_*`` / DeepSpeed variables and starts ``nproc`` processes through torchrun."""
    cfg = {**cfg, "output_dir": str(tmp / name)}
    (tmp / f"{name}.json").write_text(json.dumps(cfg))
    script = tmp / "train_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra_env or {})}
    port = str(free_port())
    if accelerate_config:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config,
               "--num_processes", str(nproc), "--main_process_port", port] + (["--cpu"] if cpu_flag else [])
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", port]
    # own session: on timeout (a deadlock) the launcher *and* its worker processes are killed
    proc = subprocess.Popen([*cmd, str(script), str(tmp / f"{name}.json")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"training did not finish within {timeout} s (deadlock?):\n{err[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def read_log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def full_forward_logps(model, batch):
    """Summed completion log-probs of every sequence of ``batch`` from one full model forward per
    sequence (the reference the shared-prefix forward is checked against)."""
    import torch

    from emorealm.model_adapters.inputs import append_continuation

    out = []
    for s in batch.sequences:
        ctx = batch.contexts[s.context]
        logits = model(**append_continuation(ctx, s.completion).model_kwargs()).logits[0].float()
        p, n = ctx.prompt_length, len(s.completion)
        out.append(torch.log_softmax(logits[p - 1:p - 1 + n], -1).gather(1, torch.tensor(s.completion)[:, None]).sum())
    return torch.stack(out)
