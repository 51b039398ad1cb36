"""The VLA bridge's errors: a malformed frame, an error the policy server reported, a server gone."""

from __future__ import annotations

from maestro_tools.common.errors import BackendError, MaestroTimeoutError


class PolicyError(BackendError):
    """Base of every error from a policy server or its wire format (BACKEND_ERROR on the wire)."""


class PolicyProtocolError(PolicyError):
    """A frame that is not valid openpi msgpack (truncated, an array whose bytes do not fit its shape...)."""


class PolicyServerError(PolicyError):
    """The server answered with a TEXT frame: its error (a traceback), kept whole in ``server_text``."""

    def __init__(self, url: str, server_text: str) -> None:
        last = next((line for line in reversed(server_text.strip().splitlines()) if line.strip()), "")
        super().__init__(f"the policy server at {url} failed: {last or 'no message'}")
        self.url, self.server_text = url, server_text


class PolicyConnectionError(PolicyError):
    """The server at ``url`` could not be reached, or it closed the connection (the server is gone)."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"policy server {url}: {detail}")
        self.url = url


class PolicyTimeoutError(PolicyError, MaestroTimeoutError):
    """The server did not answer in time (TIMEOUT on the wire); the connection is closed."""

    code = MaestroTimeoutError.code

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"policy server {url}: {detail}")
        self.url = url
