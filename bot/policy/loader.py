"""Reading the policy file (SIGNOFF_POLICY_FILE) from disk; the only module of the policy that does IO."""

from __future__ import annotations

from pathlib import Path

from bot.policy.model import InvalidPolicy, Policy
from bot.policy.parser import parse_policy, policy_problems


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file; InvalidPolicy says `file:line: reason` for the first problem."""
    return parse_policy(_read(path), source=str(path))


def check_policy(path: Path) -> list[str]:
    """Every problem in the policy file as `file:line: reason`, in file order; empty when it is valid."""
    try:
        text = _read(path)
    except InvalidPolicy as e:
        return [str(e)]
    return [f"{path}:{line}: {reason}" for line, reason in policy_problems(text)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidPolicy(f"{path}: cannot read the policy file: {e}") from None
