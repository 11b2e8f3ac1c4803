"""Who a client is, for the limits on what one client may add (leaderboard shares, gallery posts).

DESIGN.md, "Deployment": nothing a client writes is trusted for identity. A client is the
address of the connection that reached the app. Behind reverse proxies that connection comes
from the nearest proxy, so every visitor would look alike; the operator then declares how many
proxies stand in front of the app with `INSTAVIS_TRUSTED_PROXIES=N`, and the client is the
address the outermost of them saw: the N-th entry of `X-Forwarded-For` counted from the right.
This is werkzeug's `ProxyFix(x_for=N)` rule. Each proxy appends the address it was reached
from, so the rightmost N entries were written by proxies the operator trusts, and anything to
their left was written by the client and is ignored. With the default, 0, the header is not
read at all. The page session (`gr.Request.session_hash`) is never used: a client picks it.

Plain Python: no Gradio import. `client_of` takes a `gr.Request`, or anything with the same
`headers` and `client` attributes.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

TRUSTED_PROXIES = "INSTAVIS_TRUSTED_PROXIES"
"""The environment setting: how many reverse proxies stand in front of the app (default 0)."""

FORWARDED_FOR = "x-forwarded-for"

LOCAL = "local"
"""The client of a call made from Python, with no request (a script, a test)."""
UNKNOWN = "unknown"
"""The client of a request whose connection has no address (an in-process test client)."""


class BadTrustedProxies(ValueError):
    """`INSTAVIS_TRUSTED_PROXIES` is not a whole number from 0; `str()` is one line."""

    def __init__(self, value: str):
        self.value = value
        shown = repr(value) if len(value) <= 40 else repr(value[:37] + "...")
        super().__init__(f"${TRUSTED_PROXIES}: got {shown}; expected a whole number from 0 "
                         "(how many reverse proxies stand in front of the app).")


def trusted_proxies(environ: Mapping[str, str] | None = None) -> int:
    """The number of trusted proxies the operator declared: `$INSTAVIS_TRUSTED_PROXIES`, or 0
    when it is unset or blank.

    A bad value is refused, not ignored: read as 0 it would make every visitor behind the
    proxies one client (one shared limit), and a guess at another number could trust a header
    the client wrote. `app.main` reads it before serving, so a bad value stops the start with
    this one line.

    Args:
        environ: where to read the setting (None: `os.environ`).

    Raises:
        BadTrustedProxies: the value is not plain decimal digits ("1", " 2 "); signs,
            fractions, underscores and words are refused.
    """
    raw = (os.environ if environ is None else environ).get(TRUSTED_PROXIES, "")
    text = raw.strip()
    if not text:
        return 0
    # isdigit alone accepts other scripts' digits and superscripts, which int() reads or
    # refuses unevenly; a setting is plain ASCII.
    if not (text.isascii() and text.isdigit()):
        raise BadTrustedProxies(raw)
    return int(text)


def client_of(request, proxies: int | None = None) -> str:
    """Who sent `request`, as the rate limits count clients.

    Args:
        request: the handler's `gr.Request` (None when a handler is called from Python).
        proxies: how many trusted proxies stand in front of the app (None: read
            `$INSTAVIS_TRUSTED_PROXIES` now).

    Returns:
        With no proxies, the connection's address. With N, the N-th `X-Forwarded-For` entry
        from the right, which the outermost trusted proxy wrote; when the header has fewer than
        N entries, or that entry is not an IP address, the connection's address instead (the
        header did not come through N proxies as declared, so none of it is trusted). An
        address is normalised (`2001:DB8::1` and `2001:db8:0::1` are one client, an IPv4 address
        in IPv6 form is the IPv4 address), and an entry's port or brackets are dropped. A
        connection with no address gives "unknown"; no request, "local".

    Raises:
        BadTrustedProxies: `proxies` is None and the setting is bad.
    """
    if request is None:
        return LOCAL
    if proxies is None:
        proxies = trusted_proxies()
    connection = _connection(request)
    if proxies > 0:
        entries = _forwarded_for(getattr(request, "headers", None))
        if len(entries) >= proxies:
            seen = _address(entries[-proxies])
            if seen is not None:
                return seen
    return connection


def _connection(request) -> str:
    """The connection's address as the server reports it (normalised when it is an IP
    address; a server on a Unix socket or a test client may report a name, or nothing)."""
    host = getattr(getattr(request, "client", None), "host", None)
    if not isinstance(host, str) or not host.strip():
        return UNKNOWN
    return _address(host) or host.strip()[:256]


def _forwarded_for(headers) -> list[str]:
    """The `X-Forwarded-For` entries, left to right, over every such header line in order (a
    proxy may add its own line rather than extend the last one)."""
    if not headers:
        return []
    if hasattr(headers, "getlist"):  # starlette's Headers: every line with that name
        lines = headers.getlist(FORWARDED_FOR)
    else:  # a plain mapping (a gr.Request rebuilt from its pickled state)
        line = headers.get(FORWARDED_FOR)
        lines = [line] if line is not None else []
    return [entry.strip() for line in lines if isinstance(line, str)
            for entry in line.split(",")]


def _address(text) -> str | None:
    """`text` as a normalised IP address, or None when it is not one.

    Accepts what proxies write: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` and
    `[2001:db8::1]:443`. A zone (`fe80::1%eth0`) is dropped: it names this machine's interface,
    not the client.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has at least two colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)
