"""A local stand-in for Slack: the Web API, signed interactions and a small HTML client."""

from slack_sandbox.server import SlackSandbox

__all__ = ["SlackSandbox"]
