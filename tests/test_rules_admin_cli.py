"""``iom rules`` on stored versions, through the real argument parser and database."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from cli_helpers import run_as

from cli.main import main
from rules.library import shipped_documents

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.usefixtures("published")
def test_draft_to_rollback_from_the_command_line(db_url, make_user, tmp_path, monkeypatch,
                                                 capsys, user_tokens):
    make_user("lead1", role="team_lead")
    make_user("lead2", role="team_lead")
    make_user("om1", role="offender_manager")
    cli = partial(run_as, user_tokens)  # with the --as user's own token
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    iom = ["--config", str(ROOT / "config.toml"), "rules"]
    draft = tmp_path / "mappa.yaml"
    draft.write_text(shipped_documents()["mappa-exclusion"].text.replace(
        "description: MAPPA level 2 or 3 cases are out of IOM scope.",
        "description: MAPPA level 2 or 3 cases stay with MAPPA, out of IOM scope."))
    assert cli([*iom, "draft", str(draft), "--as", "om1", "--reason", "x"]) == 2
    assert "only a team lead" in capsys.readouterr().err
    assert cli([*iom, "draft", str(draft), "--as", "lead1", "--reason", "clearer"]) == 0
    ref = "mappa-exclusion@" + capsys.readouterr().out.split("@")[1].split()[0]
    assert cli([*iom, "approve", ref, "--as", "lead2", "--reason", "ok"]) == 2
    assert "run the examples first" in capsys.readouterr().err
    assert cli([*iom, "test-stored", ref, "--as", "lead1"]) == 0
    assert capsys.readouterr().out.count("PASS") == 3
    assert cli([*iom, "preview", ref, "--as", "lead1"]) == 0
    assert "0 would change" in capsys.readouterr().out
    assert cli([*iom, "approve", ref, "--as", "lead1", "--reason", "mine"]) == 2
    assert "second team lead" in capsys.readouterr().err
    assert cli([*iom, "approve", ref, "--as", "lead2", "--reason", "ok"]) == 0
    assert cli([*iom, "publish", ref, "--as", "lead1", "--reason", "wording"]) == 0
    assert "is now published" in capsys.readouterr().out
    assert cli([*iom, "rollback", "mappa-exclusion", "--as", "lead2", "--reason", "undo"]) == 0
    capsys.readouterr()
    assert main([*iom, "history", "mappa-exclusion"]) == 0
    kinds = [line.split()[2] for line in capsys.readouterr().out.splitlines()[:3]]
    assert kinds == ["rollback", "publish", "shipped"]
