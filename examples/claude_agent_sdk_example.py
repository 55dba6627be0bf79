"""Claude Agent SDK: every tool use asks Signoff first (pip install 'signoff-client[claude]').

    SIGNOFF_URL=http://127.0.0.1:8000 SIGNOFF_TOKEN=… python examples/claude_agent_sdk_example.py
"""

from __future__ import annotations

import asyncio

from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient

from signoff_client import AsyncSignoffClient
from signoff_client.integrations.claude import can_use_tool
from signoff_client.integrations.gate import Gate


async def main() -> None:
    async with AsyncSignoffClient.from_env() as signoff:
        ask_first = can_use_tool(signoff, Gate(channel="C0APPROVALS", timeout=600))
        options = ClaudeAgentOptions(can_use_tool=ask_first)
        async with ClaudeSDKClient(options=options) as claude:
            await claude.query("Clean up the build directory, then list what is left.")
            async for message in claude.receive_response():
                print(message)


if __name__ == "__main__":
    asyncio.run(main())
