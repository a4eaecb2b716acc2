"""emorealm: evaluation harness and training toolkit for audiovisual emotion reasoning."""

__version__ = "0.1.0"
