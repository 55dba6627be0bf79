"""`signoff policy check --slack`: every user, group and channel a policy names, asked of Slack."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import InvalidInput
from bot.policy.model import Policy, Rule
from bot.slack.directory import SlackDirectory


def unknown_names(policy: Policy, client: WebClient) -> list[tuple[int, str]]:
    """(line, problem) for each name in the policy that Slack does not know; Unavailable propagates."""
    directory = SlackDirectory(client)
    problems: list[tuple[int, str]] = []
    for rule in policy.every_rule:
        what = "the default" if rule.name == "default" else f"rule {rule.name!r}"
        for name in _people(rule):
            try:
                directory.resolve([name])
            except InvalidInput as e:
                problems.append((rule.line, f"{what}: {next(iter(e.fields.values()), str(e))}"))
        if rule.channel and (why := channel_problem(client, rule.channel)):
            problems.append((rule.line, f"{what}: channel {rule.channel!r} {why}"))
    return problems


def _people(rule: Rule) -> list[str]:
    return list(dict.fromkeys([*rule.approvers, *(n for step in rule.escalations for n in step.to)]))


def channel_problem(client: WebClient, channel: str) -> str | None:
    """Why the bot cannot use `channel` (missing, archived, not a member), or None."""
    try:
        info = client.conversations_info(channel=channel.lstrip("#"))["channel"]
    except SlackApiError as e:
        if e.response.get("error") == "channel_not_found":
            return "does not exist, or the bot cannot see it"
        raise
    if info.get("is_archived"):
        return "is archived"
    if not info.get("is_member", True):
        return "does not have the bot in it: invite it with /invite @Signoff"
    return None
