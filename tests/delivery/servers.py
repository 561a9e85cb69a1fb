"""Local servers the delivery tests talk to: SMTP (aiosmtpd, with TLS from trustme and AUTH)
and an HTTP receiver for webhooks."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "reports"
PASSWORD = "s3cr3t-SMTP-pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class SmtpHandler:
    """Keeps what it receives; answers ``replies`` in turn to DATA first (then 250)."""

    received: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 OK"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    handler: SmtpHandler


@contextmanager
def smtp_server(tmp: Path, security: str) -> Iterator[SmtpServer]:
    """An SMTP server on loopback: ``ssl`` (implicit TLS), ``starttls`` (TLS required before
    AUTH, AUTH required) or ``none``."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    handler = SmtpHandler()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if security == "ssl":
        kwargs = {"ssl_context": context, "authenticator": _authenticate, "auth_required": True,
                  "auth_require_tls": False}  # fmt: skip
    elif security == "starttls":
        kwargs = {"tls_context": context, "require_starttls": True,
                  "authenticator": _authenticate, "auth_required": True}  # fmt: skip
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost",
                            **kwargs)  # fmt: skip
    controller.start()
    try:
        yield SmtpServer(port, ca_file, handler)
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the HTTP receiver got, and the statuses it answers in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def hook_server() -> Iterator[Hook]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            hook.requests.append((self.path, body))
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
