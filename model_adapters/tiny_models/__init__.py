"""Tiny-twin builders: model_type -> ``"module:function"``, each ``(out_dir: Path, seed: int) -> Path``."""

BUILDERS: dict[str, str] = {
    "avere": "emorealm.model_adapters.avere.tiny:build_tiny_avere",
}
