"""Signed submissions: Ed25519 signatures over an entry's canonical JSON (``cryptography``).

The samples digest catches inconsistent results, not a determined forger (who can rewrite the
samples too). A signature binds an entry to a key the leaderboard's maintainers trust: a leaderboard
with ``trusted_keys`` accepts only entries signed by one of them.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from emorealm.errors import ConfigError, DataError
from emorealm.leaderboard.entry import signed_body
from emorealm.leaderboard.schema import canonical_json


def generate_keypair(private_path: Path, public_path: Path | None = None) -> str:
    """Write a new Ed25519 private key (PEM, PKCS#8, mode 0600) and its public key (PEM); returns the public key (base64)."""
    if private_path.exists():
        raise ConfigError(f"{private_path} exists; refusing to overwrite a private key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub = key.public_key()
    public_path = public_path or private_path.with_name(private_path.name + ".pub")
    public_path.write_bytes(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public_key_b64(pub)


def public_key_b64(pub: Ed25519PublicKey) -> str:
    return base64.b64encode(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key (PEM PKCS#8, or OpenSSH) from ``path``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read signing key {path}: {exc.strerror}") from None
    try:
        key = (serialization.load_ssh_private_key(data, password=None) if data.startswith(b"-----BEGIN OPENSSH")
               else serialization.load_pem_private_key(data, password=None))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted PEM/OpenSSH private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} holds a {type(key).__name__}; signed submissions use Ed25519 keys "
                          "(make one with `python -m emorealm leaderboard keygen`)")
    return key


def load_public_key(text_or_path: str) -> str:
    """A public key given as a PEM file, an OpenSSH ``ssh-ed25519`` line/file, or raw base64; returns base64 raw bytes."""
    p = Path(text_or_path)
    data = p.read_bytes() if p.is_file() else text_or_path.encode()
    data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        elif data.startswith(b"ssh-ed25519"):
            key = serialization.load_ssh_public_key(data)
        else:
            raw = base64.b64decode(data, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{text_or_path!r} is not an Ed25519 public key (PEM, ssh-ed25519 or base64): {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{text_or_path!r} is not an Ed25519 public key")
    return public_key_b64(key)


def sign_entry(entry: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """Add ``signature`` to ``entry`` (in place), covering everything except the signature and entry id."""
    sig = key.sign(canonical_json(signed_body(entry)))
    entry["signature"] = {
        "algorithm": "ed25519",
        "public_key": public_key_b64(key.public_key()),
        "value": base64.b64encode(sig).decode(),
    }


def verify_signature(entry: dict[str, Any], trusted: list[dict[str, str]]) -> str | None:
    """Check an entry's signature; returns the trusted key's name, or None for an unsigned entry on an open board.

    Raises DataError when the signature does not verify, or when the leaderboard trusts keys and the
    entry is unsigned or signed by another key.
    """
    sig = entry.get("signature")
    if sig is None:
        if trusted:
            raise DataError("this leaderboard accepts only signed entries; submit with --sign KEY "
                            "using a key whose public half the maintainers listed in trusted_keys")
        return None
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"], validate=True))
        pub.verify(base64.b64decode(sig["value"], validate=True), canonical_json(signed_body(entry)))
    except (InvalidSignature, ValueError) as exc:
        raise DataError(f"the entry's signature does not verify (the entry was changed after signing, "
                        f"or the signature is corrupt){': ' + str(exc) if str(exc) else ''}") from None
    if not trusted:
        return "untrusted key"
    for k in trusted:
        if k["public_key"] == sig["public_key"]:
            return k["name"]
    raise DataError(f"the entry is signed by key {sig['public_key']}, which is not among this leaderboard's "
                    f"trusted keys ({', '.join(k['name'] for k in trusted)})")
