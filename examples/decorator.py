"""`@requires_approval`: the function runs only once someone approves, with any edited arguments.

    export SIGNOFF_URL=http://127.0.0.1:8000 SIGNOFF_TOKEN=dev-…   # as `signoff dev` printed
    .venv/bin/python -m examples.decorator 340                      # then click in the sandbox

Run it on the README's "Try it" stack (SIGNOFF_POLICY_FILE=examples/policy.yaml), open the Slack
sandbox, and Approve (or Edit the amount) as alice or bob. The request names no approvers: the
policy's `refunds` rule asks @finance. Without a policy, pass `approvers=["@finance"]` too.
"""

from __future__ import annotations

import sys

from signoff_client import Rejected, SignoffError, WaitTimedOut, requires_approval

REFUND_SCHEMA = {"type": "object", "required": ["order", "amount"],
                 "properties": {"order": {"type": "integer"}, "amount": {"type": "integer", "maximum": 500}}}


@requires_approval(action="issue_refund", timeout=600, args_schema=REFUND_SCHEMA,
                   summary="Refund ${amount} to order #{order}")
def issue_refund(order: int, amount: int) -> str:
    return f"refunded ${amount} on order #{order}"


if __name__ == "__main__":
    try:
        print(issue_refund(1234, int(sys.argv[1]) if len(sys.argv) > 1 else 340))
    except Rejected as no:
        print(f"not refunded: {no.reason} ({no.decided_by})")
    except WaitTimedOut:
        print("nobody decided in time; the request was cancelled")
    except SignoffError as e:  # refused (APIError says why) or Signoff unreachable
        sys.exit(f"not refunded: {e}")
