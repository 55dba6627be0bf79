"""Outbound HTTP for callbacks, pinned to the one address that passed the SSRF check.

Resolving the name again in the HTTP client would let a DNS answer that changed since the check
(DNS rebinding) send the request into the private network. Here the TCP connection goes to the
checked IP, while the URL, the Host header, TLS SNI and certificate verification keep the name.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpcore
import httpx

Resolve = Callable[[str], Sequence[str]]  # host name -> its addresses, in preference order


def system_resolve(host: str) -> list[str]:
    """Every address the system resolver gives for `host`, first answer first, without repeats."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PinnedBackend(httpcore.NetworkBackend):
    """A network backend that opens every TCP connection to `ip`, whatever host it is asked for."""

    def __init__(self, ip: str, *, inner: httpcore.NetworkBackend) -> None:
        self.ip = ip
        self.inner = inner

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to the pinned address; httpcore still starts TLS with the request's host name."""
        return self.inner.connect_tcp(self.ip, port, timeout=timeout, local_address=local_address,
                                      socket_options=socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Never: a callback goes over TCP to the checked address."""
        raise httpcore.ConnectError("callbacks do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        """As the inner backend sleeps."""
        self.inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool built on a PinnedBackend."""

    def __init__(self, ip: str, *, tls: ssl.SSLContext, network: httpcore.NetworkBackend) -> None:
        super().__init__(verify=tls, trust_env=False)
        # httpx 0.28 takes no network backend, so the pool it built is replaced by one that has it.
        self._pool = httpcore.ConnectionPool(ssl_context=tls, max_connections=1,
                                             network_backend=PinnedBackend(ip, inner=network))


@dataclass(frozen=True, kw_only=True)
class Outbound:
    """How callbacks reach the network; `resolve` and `network` are the seams tests plug into."""

    timeout: float
    resolve: Resolve = system_resolve
    network: httpcore.NetworkBackend = field(default_factory=httpcore.SyncBackend)
    tls: ssl.SSLContext = field(default_factory=httpx.create_ssl_context)

    def client(self, ip: str) -> httpx.Client:
        """A client whose every connection goes to `ip`; no redirects, no proxies from the environment
        (a proxy would resolve the name itself and undo the pin)."""
        return httpx.Client(transport=PinnedTransport(ip, tls=self.tls, network=self.network),
                            timeout=self.timeout, follow_redirects=False, trust_env=False)
