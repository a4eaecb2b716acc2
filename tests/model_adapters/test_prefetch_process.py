"""Preparing ahead in a worker process: order, typed per-sample errors, crashes, no leftover processes.

The worker functions below live at module level so that the spawned worker can import them; this
module imports nothing heavy at the top, so a worker that runs them starts in about a second.
"""

from __future__ import annotations

import os
import time

import pytest

from emorealm.errors import MediaError, WorkerError


def square(k: int) -> tuple[int, int]:
    if k == 3:
        raise MediaError(f"clip {k} is truncated; re-encode it")
    if k == 5:
        raise _Unpicklable("needs two arguments", 5)
    return k * k, os.getpid()


def crash_on_four(k: int) -> tuple[int, int]:
    if k == 4:
        os._exit(7)  # a decoder segfault, the OOM killer: the process is gone without a word
    return k * k, os.getpid()


def slow_in_worker(k: int) -> tuple[int, int]:
    import sys

    if sys.argv[0] == "-c":  # the worker process (python -c): slower than the consumer
        time.sleep(0.25)
    if k == 4:
        raise MediaError(f"clip {k} is truncated; re-encode it")
    return k * k, os.getpid()


def always_crash(k: int) -> int:
    os._exit(9)


class _Unpicklable(Exception):
    def __init__(self, what: str, n: int) -> None:
        super().__init__(what)  # args lose n: unpickling calls _Unpicklable(what) and fails
        self.n = n


def _ready(worker, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not worker.usable():
        assert time.monotonic() < deadline, f"worker did not start: {worker.disabled}"
        time.sleep(0.02)


def _prefetcher(worker, fn, n: int, depth: int = 2):
    from emorealm.model_adapters.prefetch_process import ProcessPrefetcher

    return ProcessPrefetcher(worker, fn, [(k,) for k in range(n)], depth, lambda item: item)


@pytest.mark.timeout(180)
def test_worker_results_in_order_and_the_same_typed_errors_per_request():
    from emorealm.model_adapters.base import PER_SAMPLE_ERRORS
    from emorealm.model_adapters.prefetch_process import ProcessWorker, RemoteTraceback

    worker = ProcessWorker(square)
    _ready(worker)
    pre = _prefetcher(worker, square, 8)
    got = {}
    for k in range(8):
        try:
            got[k] = pre.get(k)
        except Exception as exc:  # noqa: BLE001 - the test looks at what arrived
            got[k] = exc
    pre.close()
    assert [got[k][0] for k in (0, 1, 2, 4, 6, 7)] == [0, 1, 4, 16, 36, 49]
    # the first request is built here (nothing was in flight yet); the rest in the worker process
    assert got[0][1] == os.getpid() and {got[k][1] for k in (1, 2, 4, 6, 7)} == {worker.pid} != {os.getpid()}
    assert type(got[3]) is MediaError and str(got[3]) == "clip 3 is truncated; re-encode it"
    assert isinstance(got[3].__cause__, RemoteTraceback) and "square" in str(got[3].__cause__)
    # an exception that cannot cross the process boundary is not passed off as a per-sample error
    assert "_Unpicklable: needs two arguments" in str(got[5]) and not isinstance(got[5], PER_SAMPLE_ERRORS)
    assert worker.served == 7
    pid = worker.pid
    worker.stop()
    assert not _alive(pid)


@pytest.mark.timeout(180)
def test_a_consumer_waiting_on_a_slow_worker_builds_the_next_request_itself():
    """steal=True: a get() that would wait builds the next unsent request here; results, their order
    and where a per-sample error surfaces are those of building everything in the worker."""
    from emorealm.model_adapters.prefetch_process import ProcessPrefetcher, ProcessWorker

    worker = ProcessWorker(slow_in_worker)
    _ready(worker)
    pre = ProcessPrefetcher(worker, slow_in_worker, [(k,) for k in range(10)], 2, lambda item: item, steal=True)
    got = {}
    for k in range(10):
        try:
            got[k] = pre.get(k)
        except MediaError as exc:
            got[k] = exc
        assert len(pre.here) <= 1 and len(pre.tickets) <= 2  # at most depth + 1 built ahead, + this one
    pre.close()
    assert [got[k][0] for k in range(10) if k != 4] == [k * k for k in range(10) if k != 4]
    # get(1) waits on the worker, so request 4 (the next unsent) is built here: its error is kept for
    # get(4), raised there as it would be from the worker
    assert type(got[4]) is MediaError and str(got[4]) == "clip 4 is truncated; re-encode it"
    here = {k for k in range(10) if k != 4 and got[k][1] == os.getpid()}
    assert 0 in here and len(here) + (got[4].__cause__ is None) - 1 == worker.stolen >= 1  # 0: nothing in flight
    assert worker.served + worker.stolen == 9 and worker.served >= 5
    worker.stop()


@pytest.mark.timeout(180)
def test_a_crashed_worker_fails_its_request_alone_and_never_hangs():
    from emorealm.model_adapters.prefetch_process import ProcessWorker

    worker = ProcessWorker(crash_on_four)
    _ready(worker)
    first = worker.pid
    pre = _prefetcher(worker, crash_on_four, 9, depth=3)
    out = {}
    for k in range(9):
        try:
            out[k] = pre.get(k)[0]
        except WorkerError as exc:
            out[k] = str(exc)
    pre.close()
    assert "died (exit code 7)" in out[4] and "prefetch_worker=thread" in out[4]
    assert [out[k] for k in range(9) if k != 4] == [k * k for k in range(9) if k != 4]
    assert worker.crashes == 1 and not _alive(first)
    worker.stop()


@pytest.mark.timeout(300)
def test_repeated_crashes_hand_preparation_back_to_the_main_process(caplog):
    from emorealm.model_adapters.prefetch_process import MAX_CRASHES, ProcessWorker

    def local(k):
        return -k

    worker = ProcessWorker(always_crash)
    failed = 0
    for _ in range(MAX_CRASHES):
        _ready(worker)
        pre = _prefetcher(worker, local, 3)
        for k in range(3):
            try:
                assert pre.get(k) == -k
            except WorkerError:
                failed += 1
        pre.close()
    assert failed == MAX_CRASHES and worker.disabled and "died 3 times" in worker.disabled
    assert "preparing inputs in the main process" in caplog.text
    pre = _prefetcher(worker, local, 4)
    assert [pre.get(k) for k in range(4)] == [0, -1, -2, -3] and worker.proc is None


def _alive(pid: int | None) -> bool:
    import psutil

    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _with_token(token: str, worker_only: bool = False) -> list[int]:
    """Processes whose environment holds ``token`` (the run and anything it started), or only its
    preparation workers."""
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("H25_PREFETCH_TOKEN") == token and (
                    not worker_only or "_child_entry" in " ".join(p.cmdline())):
                found.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def _run_cli(tmp_path, name: str, token: str, n: int):
    import subprocess
    import sys

    from support.runs import make_emorealm_root

    root = make_emorealm_root(tmp_path / f"data-{name}", n_questions=n, n_clips=min(n, 8), seconds=0.5)
    args = ["run", "--model", "tiny-omni", "--model-args", "prefetch_worker=process", "--tasks", "emorealm_ll",
            "--data-root", str(root), "--seed", "1", "--output", str(tmp_path / name)]
    env = {**os.environ, "H25_PREFETCH_TOKEN": token, "EMOREALM_MEDIA_CACHE": "0", "TOKENIZERS_PARALLELISM": "false"}
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "emorealm", *args], stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_and_the_end_of_a_run_leave_no_worker_process(tmp_path):
    import signal

    token = f"{os.getpid()}-{time.time()}"
    # a whole run: results written, and nothing of it still running afterwards
    done = _run_cli(tmp_path, "whole", token + "a", 6)
    assert done.wait(400) == 0, (tmp_path / "whole.log").read_text()[-3000:]
    assert list((tmp_path / "whole").rglob("results_*.json"))
    assert _with_token(token + "a") == []

    # Ctrl-C at a terminal goes to the whole foreground process group (the worker has its own)
    run = _run_cli(tmp_path, "interrupted", token + "b", 400)
    deadline = time.monotonic() + 300
    while not (worker := _with_token(token + "b", worker_only=True)):  # scoring has begun
        assert run.poll() is None, (tmp_path / "interrupted.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no worker process appeared"
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGINT)
    assert run.wait(120) != 0
    time.sleep(1)
    assert _with_token(token + "b") == [], f"left behind: {worker}"
    assert "--resume" in (tmp_path / "interrupted.log").read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_hf_prepared_in_a_worker_process_equals_prepared_in_series(tiny_omni_dir, tmp_path):
    """Every log-likelihood and answer equal to prefetch=0, with a broken and a missing clip that
    fail alone with the same typed errors, the counts recorded alike, and the requests really
    built in the worker process."""
    import math

    from lm_eval.api.instance import Instance

    from emorealm.media.synth import write_av_clip
    from emorealm.model_adapters.hf import HFAdapter

    clips = [str(write_av_clip(tmp_path / f"c{k}.mp4", seconds=0.5 + 0.25 * k, seed=k)) for k in range(5)]
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    clips[1:1] = [str(tmp_path / "broken.mp4")]
    clips[4:4] = [str(tmp_path / "missing.mp4")]

    def requests():
        docs = [{"id": f"d{k}", "_task": "p", "media": {"video": c, "audio": None, "audio_source": "video"}}
                for k, c in enumerate(clips)]
        gen = [Instance("generate_until", d, ("Which emotion?", {"max_gen_toks": 3}), k, task_name="p", doc_id=k)
               for k, d in enumerate(docs)]
        ll = [Instance("loglikelihood", d, ("Which emotion?", o), k, task_name="p", doc_id=k)
              for k, d in enumerate(docs) for o in (" (A) joy", " (B) anger, loud")]
        return gen, ll

    runs = []
    for kind in ("series", "process"):
        lm = HFAdapter(pretrained=str(tiny_omni_dir), prefetch=0 if kind == "series" else 2,
                       prefetch_worker="process")
        if kind == "process":
            _ready(lm._prefetch_process(1))  # started and ready: every request after the first goes to it
        gen, ll = requests()
        runs.append((lm.loglikelihood(ll), lm.generate_until(gen), lm.n_errors, lm.emorealm_metadata()["modalities"]))
        if kind == "process":
            worker = lm._worker
            # after the first, every request is built in the worker, or here while it was behind (steal)
            assert worker.served + worker.stolen == 2 * (len(clips) - 1) and worker.served >= 2
            assert worker.crashes == 0 and not worker.disabled
    (l0, g0, e0, m0), (l1, g1, e1, m1) = runs
    assert [math.isnan(a) for a, _ in l0] == [math.isnan(a) for a, _ in l1] == [k // 2 in (1, 4) for k in range(14)]
    assert [x for x in l0 if not math.isnan(x[0])] == [x for x in l1 if not math.isnan(x[0])]
    assert g0 == g1 and e0 == e1 == 4 and m0 == m1
    assert g1[1].startswith("<<emorealm-error:MediaError>>") and g1[4].startswith("<<emorealm-error:MediaError>>")
    assert "missing.mp4" in g1[4]
    pid = worker.pid
    worker.stop()
    assert not _alive(pid)


@pytest.mark.timeout(180)
def test_a_script_without_a_main_guard_can_use_the_worker(tmp_path):
    """multiprocessing's spawn would re-run this script in the worker and fail; ours runs only the worker."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import math, time\n"
        "from emorealm.model_adapters.prefetch_process import ProcessPrefetcher, ProcessWorker\n"
        "w = ProcessWorker(math.sqrt)\n"
        "deadline = time.monotonic() + 120\n"
        "while not w.usable() and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "pre = ProcessPrefetcher(w, math.sqrt, [(k * k,) for k in range(6)], 2, lambda item: item)\n"
        "print('OUT', [pre.get(k) for k in range(6)], w.served, w.disabled)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=170)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OUT [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] 5 None" in out.stdout


def test_tensors_cross_out_of_band_whatever_their_layout(tmp_path):
    """A strided view (a processor's mask sliced from a bigger one) crosses as its own values, out of
    band, not as its whole storage pickled in band; big buffers go through the spool file."""
    import threading
    from multiprocessing import Pipe

    import torch

    from emorealm.model_adapters.prefetch_transport import recv_result, send_result

    big = torch.arange(3000 * 64, dtype=torch.int32).reshape(3000, 64)
    value = {"mask": big[:, 5].unsqueeze(0), "pixels": torch.rand(400, 1176), "bf": torch.rand(3, 4).bfloat16(),
             "ids": torch.tensor([[1, 2, 3]])}
    assert not value["mask"].is_contiguous()
    for spool in (None, str(tmp_path)):
        ours, theirs = Pipe()
        sent = []
        real = theirs.send_bytes
        theirs.send_bytes = lambda b, sent=sent, real=real: sent.append(len(b)) or real(b)
        t = threading.Thread(target=send_result, args=(theirs, 7, "ok", value, spool))
        t.start()
        ticket, status, back = recv_result(ours)
        t.join()
        assert (ticket, status) == (7, "ok") and set(back) == set(value)
        assert all(torch.equal(back[k], value[k]) and back[k].dtype == value[k].dtype for k in value)
        assert sent[0] < 2000  # the pickle itself: tensors' data travel separately
        # through the pipe: one message per buffer; through the spool: none (and the file is gone)
        assert len(sent) == (1 + 4 if spool is None else 1) and list(tmp_path.iterdir()) == []


@pytest.mark.timeout(180)
def test_a_killed_main_process_leaves_no_spool_folder(tmp_path):
    """SIGKILL of the main process while the worker builds: the worker's answer finds no reader,
    and it removes its spool folder on its way out (the main process never gets to)."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "killed.py"
    script.write_text(
        "import time\n"
        "from emorealm.model_adapters.prefetch_process import ProcessWorker\n"
        "w = ProcessWorker(time.sleep)\n"
        "while not w.usable():\n"
        "    time.sleep(0.02)\n"
        "w.submit((1.5,))\n"
        "print(w.spool, w.pid, flush=True)\n"
        "time.sleep(600)\n")
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    spool, pid = run.stdout.readline().split()
    assert os.path.isdir(spool)
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    deadline = time.monotonic() + 30
    while (os.path.isdir(spool) or _alive(int(pid))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.isdir(spool) and not _alive(int(pid))
