"""Package data: keyword and synonym tables (JSON), read with :mod:`importlib.resources`."""
