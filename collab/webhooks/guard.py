"""Outgoing requests only to the public internet: a webhook URL must not reach this
machine or a private network (server-side request forgery), unless
COLLAB_WEBHOOKS_ALLOW_PRIVATE says so (the tests' receivers listen on loopback).

The address is checked once and then connected to as checked, so a name that
resolves differently a moment later (DNS rebinding) cannot slip past.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings


class Refused(Exception):
    """The URL may not be called."""


def checked_address(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, IP address to connect to) for `url`; Refused if it may not be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("only http and https URLs")
    if parts.username or parts.password:
        raise Refused("no credentials in the URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"cannot resolve {parts.hostname}") from None
    address = infos[0][4][0]
    if not settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE:
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise Refused(f"{parts.hostname} is a private, loopback or reserved address ({ip})")
    return parts.scheme, parts.hostname, port, address


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate checked for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST to a checked address; no redirects are followed (a 3xx is an answer like any other)."""
    scheme, host, port, address = checked_address(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if scheme == "https":
        conn = _PinnedHTTPS(host, address, port, timeout)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Host": parts.netloc.rsplit("@", 1)[-1], **headers})
        response = conn.getresponse()
        return response.status, response.read(4096)
    finally:
        conn.close()
