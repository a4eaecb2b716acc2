from emorealm import _import_guard  # noqa: F401  (first: see emorealm/_import_guard.py)
from emorealm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
