"""Drop third-party log noise that is not about the user's model.

transformers formats a config for an ``info`` log line on every load, eagerly, and to do so builds a
*default* instance of each sub-config to diff against. Qwen2.5-Omni's default talker config carries
token ids outside its own default vocabulary, so every Qwen2.5-Omni load printed seven warnings
about ids that are not the checkpoint's. The filter drops exactly those: token-id warnings raised
while transformers builds such a default. The same warning about a loaded config still shows.
"""

from __future__ import annotations

import logging
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
