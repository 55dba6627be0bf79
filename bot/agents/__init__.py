"""LangGraph / LangChain adapters: interrupt payloads <-> Signoff items, and the graph-side helper.

Importing this package does not import langgraph, Slack or the database: `request_approval`
imports langgraph when it is called.
"""

from bot.agents.helper import Decision, request_approval

__all__ = ["Decision", "request_approval"]
