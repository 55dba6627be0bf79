"""`signoff graphs check` names the key path the checkpointer cannot save, before a run finds it."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main


def check(tmp_path, *args):
    env = {"SIGNOFF_GRAPHS": "refund=tests.graph_apps:refund_graph", "SIGNOFF_DATA_DIR": str(tmp_path),
           "SIGNOFF_CHECKPOINT_URL": f"sqlite:///{tmp_path / 'cp.db'}", "SLACK_BOT_TOKEN": ""}
    return CliRunner().invoke(main, ["graphs", "check", *args], env=env)


def test_a_state_the_checkpointer_can_save_passes(tmp_path):
    r = check(tmp_path, "refund", "--input", "tests.graph_apps:GOOD_SAMPLE")
    assert r.exit_code == 0, r.output
    assert "can be saved" in r.output
    assert check(tmp_path, "refund", "--input", '{"action": "a", "approved": false}').exit_code == 0


def test_each_key_path_that_cannot_be_saved_is_named(tmp_path):
    r = check(tmp_path, "refund", "--input", "tests.graph_apps:BAD_SAMPLE")
    assert r.exit_code == 1
    assert "state.draft.client: _Unsaveable cannot be saved" in r.output
    assert "state.scores[1]" in r.output and "state.draft.to" not in r.output


def test_an_unknown_graph_or_sample_is_a_clear_error(tmp_path):
    r = check(tmp_path, "nope", "--input", "{}")
    assert r.exit_code == 1 and "refund" in r.output
    r = check(tmp_path, "refund", "--input", "no.such.module:x")
    assert r.exit_code == 2 and "cannot load" in r.output
