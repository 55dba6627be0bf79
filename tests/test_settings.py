from pathlib import Path

import pytest

from bot.errors import InvalidSettings
from bot.settings import ensure_dev_audit_key, load_settings, redact_url

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1234-5678-abcdefghijkl",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99edabcd00d1",
    "SIGNOFF_API_TOKENS": "billing:0123456789abcdef0123",
    "SIGNOFF_AUDIT_KEY": "0123456789abcdef0123456789abcdef",
}


def load(**env: str):
    return load_settings({**GOOD, **env}, env_file=None)


def test_defaults_are_embedded_sqlite_and_embedded_redis():
    s = load(SIGNOFF_DATA_DIR="/tmp/so")
    assert s.database_url == "sqlite:////tmp/so/signoff.db"
    assert s.redis_url is None and s.slack_api_url == "https://slack.com/api/"
    assert s.api_tokens == {"0123456789abcdef0123": "billing"}


@pytest.mark.parametrize("name,value", [
    ("SLACK_BOT_TOKEN", ""), ("SLACK_BOT_TOKEN", "xoxb-your-token"), ("SLACK_BOT_TOKEN", "abc123abc123"),
    ("SLACK_SIGNING_SECRET", ""), ("SLACK_SIGNING_SECRET", "changeme"),
    ("SIGNOFF_API_TOKENS", ""), ("SIGNOFF_API_TOKENS", "agent:short"),
    ("SIGNOFF_API_TOKENS", "agent:replace-with-a-long-secret"), ("SLACK_APP_TOKEN", "xapp-changeme"),
    ("SIGNOFF_PORT", "http"), ("SLACK_API_URL", "localhost:9000"),
])
def test_missing_or_placeholder_values_stop_with_the_variable_named(name, value):
    with pytest.raises(InvalidSettings, match=name):
        load(**{name: value})


def test_dev_mode_without_a_workspace_needs_no_secrets():
    s = load_settings({}, env_file=None, dev=True)
    assert s.uses_sandbox


def test_dev_mode_with_a_workspace_still_checks_secrets():
    with pytest.raises(InvalidSettings, match="SLACK_SIGNING_SECRET"):
        load_settings({"SLACK_BOT_TOKEN": GOOD["SLACK_BOT_TOKEN"]}, env_file=None, dev=True)


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SIGNOFF_PORT=9001\nSIGNOFF_HOST=0.0.0.0\nSIGNOFF_SANDBOX_PORT=9003\n")
    s = load_settings({**GOOD, "SIGNOFF_PORT": "9002"}, env_file=env_file)
    assert (s.host, s.port, s.sandbox_port) == ("0.0.0.0", 9002, 9003)  # .env's sandbox port too


def test_a_short_signing_secret_is_refused():
    with pytest.raises(InvalidSettings, match="^SLACK_SIGNING_SECRET is shorter than 16"):
        load(SLACK_SIGNING_SECRET="x")
    assert load(SLACK_SIGNING_SECRET="s" * 16).slack_signing_secret == "s" * 16


def test_a_token_given_to_two_agents_is_refused_without_echoing_it():
    token = "0123456789abcdef0123"
    with pytest.raises(InvalidSettings, match="SIGNOFF_API_TOKENS.*'a' and 'b'") as e:
        load(SIGNOFF_API_TOKENS=f"a:{token},b:{token}")
    assert token not in str(e.value)
    with pytest.raises(InvalidSettings, match="SIGNOFF_API_TOKENS gives agent 'a' twice"):
        load(SIGNOFF_API_TOKENS=f"a:{token}, a:{token}")


def test_one_agent_may_hold_two_tokens_while_rotating():
    s = load(SIGNOFF_API_TOKENS="a:0123456789abcdef0123,a:fedcba9876543210fedc")
    assert sorted(s.api_tokens.values()) == ["a", "a"]


@pytest.mark.parametrize("url,shown", [
    ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("postgresql://signoff:pa55@db:5432/signoff", "postgresql://signoff:***@db:5432/signoff"),
    ("unix://:abc123@/var/lib/signoff/redis.sock?db=0", "unix://:***@/var/lib/signoff/redis.sock?db=0"),
    ("redis://cache:6379/0", "redis://cache:6379/0"),
    ("sqlite:////tmp/so/signoff.db", "sqlite:////tmp/so/signoff.db"),
])
def test_urls_are_shown_without_their_passwords(url, shown):
    assert redact_url(url) == shown


def test_the_body_cap_is_a_bounded_number_of_bytes():
    assert load().max_body_bytes == 262144
    assert load(SIGNOFF_MAX_BODY_BYTES="1048576").max_body_bytes == 1048576
    for bad in ("lots", "-1", "10", "1e6", str(1 << 40)):
        with pytest.raises(InvalidSettings, match="SIGNOFF_MAX_BODY_BYTES"):
            load(SIGNOFF_MAX_BODY_BYTES=bad)
def test_a_platform_port_is_served_on_every_interface():
    s = load(PORT="5123")
    assert (s.host, s.port) == ("0.0.0.0", 5123)


def test_platform_port_wins_over_signoff_port_but_signoff_host_still_decides():
    s = load(PORT="5123", SIGNOFF_PORT="9000", SIGNOFF_HOST="127.0.0.1")
    assert (s.host, s.port) == ("127.0.0.1", 5123)


def test_without_a_platform_port_the_default_stays_on_loopback():
    s = load(SIGNOFF_PORT="9000")
    assert (s.host, s.port) == ("127.0.0.1", 9000)


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_bad_platform_port_is_refused_by_its_name(value):
    with pytest.raises(InvalidSettings, match="^PORT must be a TCP port number"):
        load(PORT=value)


def test_the_audit_key_is_required_outside_dev_and_must_be_long():
    env = {k: v for k, v in GOOD.items() if k != "SIGNOFF_AUDIT_KEY"}
    with pytest.raises(InvalidSettings, match="^SIGNOFF_AUDIT_KEY is not set"):
        load_settings(env, env_file=None)
    for bad in ("x" * 31, "change-me-change-me-change-me-change-me"):
        with pytest.raises(InvalidSettings, match="SIGNOFF_AUDIT_KEY is a placeholder or shorter than 32"):
            load(SIGNOFF_AUDIT_KEY=bad)


def test_dev_makes_an_audit_key_once_and_finds_it_after_a_restart(tmp_path):
    env = {"SIGNOFF_DATA_DIR": str(tmp_path / "data")}
    first = load_settings(env, env_file=None, dev=True)
    assert first.audit_key is None
    made = ensure_dev_audit_key(first)
    assert made.audit_key is not None and len(made.audit_key) >= 32
    path = tmp_path / "data" / "audit.key"
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_settings(env, env_file=None, dev=True)
    assert again.audit_key == made.audit_key
    assert ensure_dev_audit_key(again).audit_key == made.audit_key
    # The environment's key wins over the kept one.
    assert load_settings(env | {"SIGNOFF_AUDIT_KEY": "e" * 32}, env_file=None, dev=True).audit_key == "e" * 32


def test_a_token_may_carry_the_decide_scope_and_plain_entries_keep_working():
    ui, agent = "0123456789abcdef-ui-token", "0123456789abcdef-agent"
    s = load(SIGNOFF_API_TOKENS=f"approvals-ui:{ui}:decide,billing:{agent}")
    assert s.api_tokens == {ui: "approvals-ui", agent: "billing"}
    assert s.api_scopes == {ui: frozenset({"decide"})}


@pytest.mark.parametrize("entry", ["ui:0123456789abcdef-ui:admin", "ui:0123456789abcdef-ui:"])
def test_an_unknown_scope_stops_with_the_entry_named(entry):
    with pytest.raises(InvalidSettings, match="'ui'.*decide"):
        load(SIGNOFF_API_TOKENS=entry)


def test_a_graph_registration_may_say_which_state_keys_its_cards_show():
    s = load(SIGNOFF_GRAPHS="billing=app.graphs:refund?show=draft+amount,ops=app.ops:g?hide=internal")
    assert s.graphs == {"billing": "app.graphs:refund?show=draft+amount", "ops": "app.ops:g?hide=internal"}
    with pytest.raises(InvalidSettings, match="show=key"):
        load(SIGNOFF_GRAPHS="billing=app.graphs:refund?reveal=all")


def test_every_setting_the_code_reads_is_in_env_example_with_a_comment_and_in_the_readme():
    import re

    root = Path(__file__).resolve().parent.parent
    names = {m[1] for folder in ("bot", "workers") for p in (root / folder).rglob("*.py")
             for m in re.finditer(r'"((?:SIGNOFF|SLACK)_[A-Z0-9_]+)"', p.read_text())}
    assert "SIGNOFF_SANDBOX_PORT" in names and "SLACK_BOT_TOKEN" in names  # the scan finds them
    example = (root / ".env.example").read_text().splitlines()
    readme = (root / "README.md").read_text()
    client = {"SIGNOFF_URL", "SIGNOFF_TOKEN"}  # where a client finds a server: not the server's .env
    for name in sorted(names - client):
        at = [n for n, line in enumerate(example) if re.match(rf"#?\s*{name}=", line)]
        assert at, f"{name} is not in .env.example"
        assert example[at[0] - 1].startswith("#"), f"{name} in .env.example has no comment above it"
        assert f"`{name}`" in readme, f"{name} is not in the README"
    assert all(f"`{name}`" in readme for name in client)


def test_dev_tokens_are_made_once_and_kept_private(tmp_path):
    # The `export` line `signoff dev` printed must still work after a restart.
    from bot.settings import dev_tokens

    first = dev_tokens(tmp_path / "data")
    assert first == dev_tokens(tmp_path / "data")
    assert first["agent"].startswith("dev-") and first["ui"].startswith("dev-ui-")
    assert len(first["callback_secret"]) == 64
    assert ((tmp_path / "data" / "dev-tokens.json").stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(("name", "value", "says"), [
    ("DATABASE_URL", "mysql://u:hunter2@h/db", "sqlite:///"),  # was a ModuleNotFoundError traceback
    ("DATABASE_URL", "notaurl", "postgresql+psycopg://"),
    ("REDIS_URL", "http://127.0.0.1:6399/0", "redis://"),  # was a ValueError traceback
])
def test_a_url_of_the_wrong_kind_is_refused_naming_the_kinds_that_work(name, value, says):
    with pytest.raises(InvalidSettings, match=name) as refused:
        load(**{name: value})
    assert says in str(refused.value) and "hunter2" not in str(refused.value)


def test_a_kept_secret_is_made_once_whole_and_an_emptied_one_is_refused(tmp_path):
    from bot.settings import kept_secret

    path = tmp_path / "data" / "secret"
    assert kept_secret(path, lambda: "first") == "first"
    assert kept_secret(path, lambda: "second") == "first"  # kept, not made again
    assert (path.stat().st_mode & 0o777) == 0o600 and [p.name for p in path.parent.iterdir()] == ["secret"]
    path.write_text("")
    with pytest.raises(InvalidSettings, match="is empty: delete it"):
        kept_secret(path, lambda: "third")


def test_every_bad_setting_is_named_at_once():
    # One per restart had an operator fix, restart and meet the next one, five times over.
    with pytest.raises(InvalidSettings) as e:
        load(SIGNOFF_AUDIT_KEY="", SLACK_SIGNING_SECRET="", SIGNOFF_PORT="eighty", SIGNOFF_LOG_FORMAT="xml")
    assert len(e.value.problems) == 4, e.value.problems
    message = str(e.value)
    assert message.startswith("4 settings need fixing: (1) ")
    for name in ("SIGNOFF_AUDIT_KEY", "SLACK_SIGNING_SECRET", "SIGNOFF_PORT", "SIGNOFF_LOG_FORMAT"):
        assert name in message
    assert "\n" not in message
    # One problem reads as it always did.
    with pytest.raises(InvalidSettings, match=r"^SIGNOFF_PORT must be a TCP port number, got 'eighty'$"):
        load(SIGNOFF_PORT="eighty")


def test_a_bad_token_list_is_not_also_said_to_be_missing():
    with pytest.raises(InvalidSettings) as e:
        load(SIGNOFF_API_TOKENS="billing:short")
    [problem] = e.value.problems
    assert problem.startswith("SIGNOFF_API_TOKENS: the token for 'billing' is a placeholder or shorter")


def test_a_token_without_a_name_is_refused_without_echoing_it():
    # It used to become agent "agent1", which no policy rule, rate limit or callback secret names.
    with pytest.raises(InvalidSettings) as e:
        load(SIGNOFF_API_TOKENS="billing:0123456789abcdef0123,fedcba9876543210fedcba")
    assert str(e.value) == ("SIGNOFF_API_TOKENS: entry 2 has no name; write name:token, e.g. "
                            "billing-agent:$(openssl rand -hex 24)")
    assert "fedcba" not in str(e.value)


def test_a_bad_token_list_does_not_also_fail_the_callback_secrets_that_name_its_agents():
    with pytest.raises(InvalidSettings) as e:
        load(SIGNOFF_API_TOKENS="billing:short", SIGNOFF_CALLBACK_SECRETS="billing:" + "c" * 40)
    assert len(e.value.problems) == 1 and "SIGNOFF_CALLBACK_SECRETS" not in str(e.value)


def test_missing_slack_secrets_say_where_to_find_them():
    with pytest.raises(InvalidSettings) as e:
        load(SLACK_BOT_TOKEN="", SLACK_SIGNING_SECRET="", SIGNOFF_PORT="x")
    said = {p.split(" ", 1)[0]: p for p in e.value.problems}
    assert "OAuth & Permissions" in said["SLACK_BOT_TOKEN"] and "signoff dev" in said["SLACK_BOT_TOKEN"]
    assert "Basic Information" in said["SLACK_SIGNING_SECRET"]
    assert ".;" not in str(e.value)
