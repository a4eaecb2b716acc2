"""Run-time checks of library versions that only some code paths need.

The core installs with the transformers range vLLM accepts (setup.cfg), so ``pip install
'emorealm[vllm]'`` resolves to the current vLLM. The few paths that need a newer transformers call
:func:`require` when they are used, with a message that names the fix.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

from emorealm.errors import ModelError

# the HF adapter's interleaved audio-in-video layout of the Qwen Omni processors: older processors
# ignore the audio-from-video arguments and would silently drop the clip's audio (docs/adapters.md)
INTERLEAVED_AUDIO_TRANSFORMERS = "5.24"


def require(package: str, minimum: str, feature: str, alternative: str = "") -> None:
    """Raise ModelError when ``package`` is older than ``minimum`` (``feature`` needs it)."""
    try:
        have = version(package)
    except PackageNotFoundError:
        have = None
    if have is not None and Version(have) >= Version(minimum):
        return
    fix = f"pip install '{package}>={minimum}'"
    raise ModelError(f"{feature} needs {package} >= {minimum}, this environment has {have or 'none'}: {fix}"
                     + (f"; or {alternative}" if alternative else ""))
