"""Leaderboard signatures: signed entries, trusted keys, tampering, forgery and key generation."""

from __future__ import annotations

import copy
import json

import pytest

from emorealm.errors import DataError
from emorealm.leaderboard.entry import build_entry
from emorealm.leaderboard.signing import generate_keypair, load_private_key, sign_entry, verify_signature
from emorealm.leaderboard.store import read_leaderboard
from emorealm.leaderboard.submit import check_file
from emorealm.leaderboard.views import ranked_rows

from support.leaderboard import call_main, edit_json, run_fixture, samples, wide_console_fixture  # noqa: F401 (fixtures)

# --- signatures ------------------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path):
    a, b = tmp_path / "alice.pem", tmp_path / "mallory.pem"
    generate_keypair(a)
    generate_keypair(b)
    return a, b


def test_signed_submission_accepted_by_a_board_trusting_the_key(run, tmp_path, keys):
    alice, _ = keys
    lb = tmp_path / "lb.json"
    assert call_main("leaderboard", "init", lb, "--trust", f"{alice}.pub") == 0
    assert call_main("submit", run, "--leaderboard", lb, "--allow-smoke", "--sign", alice) == 0
    board = read_leaderboard(lb)
    assert board["entries"][0]["signature"]["algorithm"] == "ed25519"
    assert ranked_rows(board)[0].signer == "alice.pem.pub"
    check_file(board)


def test_wrong_key_or_unsigned_entry_rejected_by_a_trusting_board(run, tmp_path, keys, capsys):
    alice, mallory = keys
    lb = tmp_path / "lb.json"
    assert call_main("leaderboard", "init", lb) == 0
    assert call_main("leaderboard", "trust", f"{alice}.pub", "--name", "Alice lab", "--leaderboard", lb) == 0
    before = lb.read_bytes()
    assert call_main("submit", run, "--leaderboard", lb, "--allow-smoke", "--sign", mallory) == 2
    assert "not among this leaderboard's trusted keys" in capsys.readouterr().err
    assert call_main("submit", run, "--leaderboard", lb, "--allow-smoke") == 2
    assert "accepts only signed entries" in capsys.readouterr().err
    assert lb.read_bytes() == before


def test_edited_signed_entry_is_rejected(run, tmp_path, keys, capsys):
    alice, _ = keys
    entry, _ = build_entry(run, submitter="x")
    sign_entry(entry, load_private_key(alice))
    trusted = [{"name": "alice", "public_key": entry["signature"]["public_key"]}]
    assert verify_signature(entry, trusted) == "alice"
    forged = copy.deepcopy(entry)
    forged["tasks"]["dfew"]["metrics"]["uar"]["value"] = 0.99
    with pytest.raises(DataError, match="signature does not verify"):
        verify_signature(forged, trusted)
    renamed = copy.deepcopy(entry)
    renamed["model"]["name"] = "someone else's model"
    with pytest.raises(DataError, match="signature does not verify"):
        verify_signature(renamed, trusted)

    # the same through the CLI: a signed entry file, edited, then submitted to a trusting board
    entry_file = run.parent / "entry.json"
    assert call_main("submit", run, "--allow-smoke", "--sign", alice, "--dry-run", "--entry-out", entry_file) == 0
    lb = tmp_path / "lb.json"
    assert call_main("leaderboard", "init", lb, "--trust", f"{alice}.pub") == 0
    good = json.loads(entry_file.read_text())
    edit_json(entry_file, lambda e: e["model"].update(name="forged"))
    before = lb.read_bytes()
    assert call_main("submit", entry_file, "--leaderboard", lb, "--allow-smoke") == 2
    assert "entry_id does not match its content" in capsys.readouterr().err
    assert lb.read_bytes() == before
    entry_file.write_text(json.dumps(good))
    assert call_main("submit", entry_file, "--leaderboard", lb, "--allow-smoke") == 0
    assert read_leaderboard(lb)["entries"][0]["entry_id"] == good["entry_id"]


def test_forged_entry_resigned_by_the_forger_fails_the_samples_check(run, tmp_path, keys, capsys):
    """A forger who edits a score and re-signs with their own key still fails the samples check."""
    _, mallory = keys
    entry, _ = build_entry(run, submitter="x")
    entry["tasks"]["dfew"]["metrics"]["war"]["value"] = 0.95
    from emorealm.leaderboard.entry import finalise

    finalise(entry)
    sign_entry(entry, load_private_key(mallory))
    f = run.parent / "forged.json"
    f.write_text(json.dumps(entry))
    assert call_main("submit", f, "--leaderboard", tmp_path / "lb.json", "--allow-smoke") == 2
    assert "disagree with the samples log" in capsys.readouterr().err


def test_keygen_command_writes_a_private_key_only_its_owner_reads(tmp_path, capsys):
    key = tmp_path / "k.pem"
    assert call_main("leaderboard", "keygen", key) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    load_private_key(key)
    assert call_main("leaderboard", "keygen", key) == 2  # never overwrites a key
    assert "refusing to overwrite" in capsys.readouterr().err
