"""An OpenAI Agents SDK agent on a scripted model (no network), runnable as a process that may be killed.

    EFFECTS_FILE=… python -m tests.integrations.agents_app RUN_KEY STORE_DIR   # runs until decided
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from agents import Agent, Model, ModelResponse, RunConfig, Usage, function_tool
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from signoff_client import AsyncSignoffClient
from signoff_client.integrations.gate import Gate
from signoff_client.integrations.openai_agents import StateStore, run_with_signoff

REFUND = {"order": 1234, "amount": 340}
RUN = {"run_config": RunConfig(tracing_disabled=True)}


class ScriptedModel(Model):
    """Asks for a refund; once it sees the tool's answer, repeats it as the final output."""

    async def get_response(self, system_instructions: str | None, input: Any, *args: Any,
                           **kw: Any) -> ModelResponse:
        items = input if isinstance(input, list) else []
        answered = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        if answered:
            text = f"tool said: {answered[-1]['output']}"
            said = ResponseOutputText(type="output_text", text=text, annotations=[])
            out: Any = ResponseOutputMessage(id="msg_1", type="message", role="assistant",
                                             status="completed", content=[said])
        else:
            out = ResponseFunctionToolCall(type="function_call", id="fc_1", call_id="call_1",
                                           name="issue_refund", arguments=json.dumps(REFUND),
                                           status="completed")
        return ModelResponse(output=[out], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kw: Any) -> Any:
        raise NotImplementedError("the tests do not stream")


@function_tool(needs_approval=True)
def issue_refund(order: int, amount: int) -> str:
    """Refund `amount` dollars on `order`."""
    with Path(os.environ["EFFECTS_FILE"]).open("a") as f:
        f.write(f"refunded {amount} on {order}\n")
    return f"refunded {amount} on {order}"


def agent() -> Agent[Any]:
    """The agent, built the same way in every process."""
    return Agent(name="billing", instructions="Refund order 1234.", model=ScriptedModel(),
                 tools=[issue_refund])


async def main(run_key: str, store: str) -> None:
    async with AsyncSignoffClient.from_env() as client:
        await run_with_signoff(agent(), "refund order 1234", run_key=run_key, client=client,
                               gate=Gate(timeout=120), store=StateStore(Path(store)), **RUN)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
