"""Deprecated alias of :mod:`emorealm.model_adapters.tiny_models.omni` (moved in the layout of issue 12).

Importing it warns once and hands out the moved module itself, so attributes read or patched
through the old name are those of the real module. It will be removed in the next release.
"""

import sys
import warnings

from emorealm.model_adapters.tiny_models import omni as _moved

warnings.warn("emorealm.tiny moved to emorealm.model_adapters.tiny_models.omni; the old name will be removed in "
              "the next release", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
