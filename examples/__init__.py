"""Runnable examples the README's commands use (graphs registered by import path, scripts, a policy)."""
