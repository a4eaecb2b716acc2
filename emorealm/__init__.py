"""emorealm: evaluation harness and training toolkit for audiovisual emotion reasoning."""

from emorealm import log_filters as _log_filters

__version__ = "0.1.0"

_log_filters.install()
