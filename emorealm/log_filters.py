"""Drop third-party log noise that is not about the user's model.

transformers formats a config for an ``info`` log line on every load, eagerly, and to do so builds a
*default* instance of each sub-config to diff against. Qwen2.5-Omni's default talker config carries
token ids outside its own default vocabulary, so every Qwen2.5-Omni load printed seven warnings
about ids that are not the checkpoint's. The filter drops exactly those: token-id warnings raised
while transformers builds such a default. The same warning about a loaded config still shows.
"""

from __future__ import annotations

import logging
import os
import sys

_LOGGER = "transformers.configuration_utils"


class DefaultConfigTokenIdFilter(logging.Filter):
    """Rejects token-id range warnings emitted while transformers diffs against a default config."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "within the vocabulary" not in record.getMessage():
            return True
        frame = sys._getframe()
        while frame is not None:
            if frame.f_code.co_name == "recursive_diff_dict":
                return False
            frame = frame.f_back
        return True


def install() -> None:
    """Attach the filter to transformers' configuration logger (once)."""
    logger = logging.getLogger(_LOGGER)
    if not any(isinstance(f, DefaultConfigTokenIdFilter) for f in logger.filters):
        logger.addFilter(DefaultConfigTokenIdFilter())


class MessageFilter(logging.Filter):
    """Rejects records whose message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


# lm-eval tells every custom-dataset task to pass options with its own --metadata flag; under
# ``emorealm run`` options go through --task-args (docs/contracts.md), so the hint misleads
_METADATA_HINT = "Custom kwargs can be passed to `--metadata`"


def install_for_run() -> None:
    """Filters for ``emorealm run`` / ``diagnose`` only (lm-eval's own CLI keeps its hints)."""
    logger = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, MessageFilter) and f.text == _METADATA_HINT for f in logger.filters):
        logger.addFilter(MessageFilter(_METADATA_HINT))


# -- one quiet console (issue 19) ----------------------------------------------------------------------
# third-party loggers whose records (Python warnings included) go to the run's log file, and to the
# console only with -v
THIRD_PARTY = ("transformers", "lm_eval", "datasets", "peft", "accelerate", "huggingface_hub",
               "py.warnings", "urllib3", "filelock", "httpx", "wandb")
# lm-eval's INFO records say what ran (tasks, gen_kwargs, seeds): worth the log file; the others'
# INFO level would make transformers format every config it loads
_FILE_LEVEL = {"lm_eval": logging.INFO}
_PROGRESS_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


class CaptureHandler(logging.Handler):
    """Keeps third-party records in memory until a log file is attached, then writes them there."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.buffer: list[logging.LogRecord] = []
        self.file: logging.FileHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is None:
            self.buffer.append(record)
        else:
            self.file.emit(record)

    def attach(self, path) -> None:
        """Write everything captured so far, and what follows, to ``path`` (appending)."""
        if self.file is not None and self.file.baseFilename == str(path):
            return
        if self.file is not None:
            self.file.close()
        self.file = logging.FileHandler(path, encoding="utf-8")
        self.file.setFormatter(self.formatter)
        for rec in self.buffer:
            self.file.emit(rec)
        self.buffer.clear()


CAPTURE = CaptureHandler()
VERBOSE = True  # until the CLI says otherwise, library use of emorealm changes nothing


def quiet_console(verbose: bool = False) -> None:
    """Third-party progress bars off and their log records (and warnings) captured for the log file;
    with ``verbose`` they also show on the console as usual. Idempotent: call again once a library
    that installs its own handler at import (transformers) has been imported."""
    logging.captureWarnings(False)  # re-hook: someone (pytest, a notebook) may have replaced showwarning since
    logging.captureWarnings(True)
    if not verbose:
        for key, value in _PROGRESS_ENV.items():
            os.environ.setdefault(key, value)
    for name in THIRD_PARTY:
        logger = logging.getLogger(name)
        if CAPTURE not in logger.handlers:
            logger.addHandler(CAPTURE)
        if not verbose:
            logger.propagate = False
            for h in list(logger.handlers):
                if h is not CAPTURE:
                    logger.removeHandler(h)
            logger.setLevel(_FILE_LEVEL.get(name, logging.WARNING))
    if not verbose and "transformers" in sys.modules:  # transformers adds its handler at import
        from transformers.utils import logging as hf_logging

        hf_logging.disable_default_handler()
        hf_logging.disable_progress_bar()
    global VERBOSE
    VERBOSE = verbose


def attach_log_file(path) -> None:
    """The run's log file (``<output>/<model>/emorealm.log``): every captured third-party record."""
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    CAPTURE.attach(path)


def quiet_git() -> None:
    """lm-eval records the git commit of the working directory and lets git print
    "fatal: not a git repository" outside a checkout; ask git the same with its stderr silenced."""
    try:
        import lm_eval.evaluator as ev
        import lm_eval.loggers.utils as lu
    except ImportError:
        return
    if getattr(lu.get_git_commit_hash, "_emorealm_quiet", False):
        return

    def get_git_commit_hash():
        import subprocess

        try:
            return subprocess.check_output(["git", "describe", "--always"], stderr=subprocess.DEVNULL).strip().decode()
        except (subprocess.CalledProcessError, FileNotFoundError):
            return lu.get_commit_from_path(os.getcwd())

    get_git_commit_hash._emorealm_quiet = True
    lu.get_git_commit_hash = get_git_commit_hash
    ev.get_git_commit_hash = get_git_commit_hash


# -- our own reporting channel ---------------------------------------------------------------------------
class ConsoleHandler(logging.Handler):
    """Shows the ``emorealm`` logger's records on stderr through rich, one line each:
    ``emorealm: <message>`` (warnings yellow, errors red). On a torchrun rank other than 0 only
    warnings and errors show, as ``emorealm[rank N]: <message>``: rank 0 speaks for the run."""

    STYLES = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.CRITICAL: "bold red"}

    def __init__(self, rank: int = 0) -> None:
        super().__init__(logging.INFO if rank == 0 else logging.WARNING)
        self.rank = rank

    def emit(self, record: logging.LogRecord) -> None:
        from rich.console import Console
        from rich.text import Text

        try:
            prefix = "emorealm: " if self.rank == 0 else f"emorealm[rank {self.rank}]: "
            text = Text(prefix + record.getMessage(), style=self.STYLES.get(record.levelno, ""))
            if record.exc_info:
                text.append("\n" + logging.Formatter().formatException(record.exc_info))
            # soft_wrap: no line breaks inserted (paths and commands stay whole); stderr looked up now,
            # so redirected or captured streams get the line
            Console(stderr=True, soft_wrap=True, highlight=False).print(text)
        except Exception:  # noqa: BLE001  (logging must never raise; the logging module's own rule)
            self.handleError(record)


def emorealm_console(rank: int | None = None) -> logging.Logger:
    """Install the :class:`ConsoleHandler` on the ``emorealm`` logger (once; the rank from
    ``$RANK`` unless given) and return that logger."""
    logger = logging.getLogger("emorealm")
    rank = int(os.environ.get("RANK", "0") or 0) if rank is None else rank
    for h in list(logger.handlers):
        if isinstance(h, ConsoleHandler):
            logger.removeHandler(h)
    logger.addHandler(ConsoleHandler(rank))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
