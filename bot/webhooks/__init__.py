"""Signed webhook callbacks to agents: the sender (IO); payload and retry rules: bot.core.webhooks."""
