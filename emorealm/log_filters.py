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
