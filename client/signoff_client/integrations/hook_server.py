"""Claude Code's HTTP hook: a small server beside the agent that answers PreToolUse POSTs through Signoff.

Claude Code treats a non-2xx answer or a timeout as "no answer" and carries on with its own
permission flow, so every POST gets a 200 with a decision: a body it cannot read, a wrong path
or Signoff failing all answer deny. It holds the Signoff token itself and listens on loopback.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from signoff_client.client import SignoffClient
from signoff_client.integrations.claude import deny_output, run_hook
from signoff_client.integrations.gate import Gate

PATH = "/claude-code/pre-tool-use"
MAX_BODY = 1_000_000


def answer(client: SignoffClient, gate: Gate, *, path: str, body: bytes) -> dict[str, Any]:
    """The decision for one POST, never an error: anything unreadable denies."""
    if path.split("?")[0] != PATH:
        return deny_output(f"Signoff's hook server answers {PATH}, not {path}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return deny_output("Signoff could not read the hook input: not UTF-8")
    result: dict[str, Any] = json.loads(run_hook(client, text, gate))
    return result


def hook_server(client: SignoffClient, gate: Gate, *, host: str = "127.0.0.1",
                port: int = 8767) -> ThreadingHTTPServer:
    """The server, bound and ready; call serve_forever() (and shutdown() from another thread)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._send(deny_output(f"the hook input needs a Content-Length of at most {MAX_BODY} bytes"))
                return
            self._send(answer(client, gate, path=self.path, body=self.rfile.read(length)))

        def _send(self, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return  # one line per tool call on stderr is noise; Signoff's audit log has every call

    return ThreadingHTTPServer((host, port), Handler)
