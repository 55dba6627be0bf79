"""OpenAI Agents SDK: needs_approval tools decided in Slack (pip install 'signoff-client[openai-agents]').

    export OPENAI_API_KEY=… SIGNOFF_URL=http://127.0.0.1:8000 SIGNOFF_TOKEN=…
    python examples/openai_agents_example.py
    python examples/openai_agents_example.py --resume refund-1234   # after a restart, pick the run up
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agents import Agent, function_tool

from signoff_client import AsyncSignoffClient
from signoff_client.integrations.gate import Gate
from signoff_client.integrations.openai_agents import StateStore, resume_with_signoff, run_with_signoff


@function_tool(needs_approval=True)
def issue_refund(order: int, amount: int) -> str:
    """Refund `amount` dollars on `order`."""
    return f"refunded {amount} on {order}"


AGENT = Agent(name="billing", instructions="Refund what the customer asks for.", tools=[issue_refund])
STORE = StateStore(Path(".signoff-runs"))


async def main(argv: list[str]) -> None:
    gate = Gate(channel="C0APPROVALS", timeout=3600)
    async with AsyncSignoffClient.from_env() as signoff:
        if argv[:1] == ["--resume"]:
            result = await resume_with_signoff(AGENT, run_key=argv[1], client=signoff, gate=gate, store=STORE)
        else:
            result = await run_with_signoff(AGENT, "Refund $340 on order 1234.", run_key="refund-1234",
                                            client=signoff, gate=gate, store=STORE)
    print(result.final_output)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
