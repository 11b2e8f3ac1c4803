"""Who a client is (`demos.clients`): the connection's address, or behind N declared proxies the
N-th `X-Forwarded-For` entry from the right; never what the client wrote, never its session.

Requests are real `gr.Request`s around starlette Requests, built the way Gradio builds them
for a handler (`route_utils.compile_gr_request`), and, once, the pickled form Gradio can turn
one into (headers and client as plain data)."""

from __future__ import annotations

import pickle

import gradio as gr
import pytest
from starlette.requests import Request as StarletteRequest

import app
from demos.clients import (
    LOCAL,
    TRUSTED_PROXIES,
    UNKNOWN,
    BadTrustedProxies,
    client_of,
    trusted_proxies,
)

PEER = "198.51.100.9"
"""The connection's address: the nearest proxy's when there is one."""


def request(*forwarded: str, peer: str | None = PEER, session: str = "session-abc") -> gr.Request:
    """A gr.Request from `peer`, with one `X-Forwarded-For` line per `forwarded` argument."""
    scope = {
        "type": "http", "method": "POST", "path": "/gradio_api/queue/join", "query_string": b"",
        "headers": [(b"host", b"instavis.example"),
                    *[(b"x-forwarded-for", line.encode()) for line in forwarded]],
        "client": (peer, 50123) if peer is not None else None,
        "server": ("10.0.0.2", 7860), "scheme": "http",
    }
    return gr.Request(request=StarletteRequest(scope), session_hash=session)


# === No proxies declared: the header is not read ===


@pytest.mark.parametrize("forged", ["6.6.6.6", "6.6.6.6, 7.7.7.7", "unknown", ""])
def test_with_no_proxies_a_forwarded_header_changes_nothing(forged):
    assert client_of(request(forged), proxies=0) == PEER
    assert client_of(request(), proxies=0) == PEER


def test_the_default_is_no_proxies(monkeypatch):
    monkeypatch.delenv(TRUSTED_PROXIES, raising=False)
    assert client_of(request("6.6.6.6")) == PEER


# === N proxies: the N-th entry from the right ===


def test_one_proxy_takes_the_rightmost_entry():
    assert client_of(request("203.0.113.7"), proxies=1) == "203.0.113.7"


def test_with_one_proxy_forged_leftmost_entries_change_nothing():
    honest = client_of(request("203.0.113.7"), proxies=1)
    for forged in ("6.6.6.6, 203.0.113.7", "1.1.1.1, 6.6.6.6 , 203.0.113.7",
                   "unknown, <script>, 203.0.113.7"):
        assert client_of(request(forged), proxies=1) == honest


def test_two_proxies_take_the_second_entry_from_the_right():
    # The client forged 6.6.6.6; the outer proxy saw 203.0.113.7; the inner one saw the outer.
    assert client_of(request("6.6.6.6, 203.0.113.7, 10.0.0.1"), proxies=2) == "203.0.113.7"
    assert client_of(request("203.0.113.7, 10.0.0.1"), proxies=2) == "203.0.113.7"


def test_header_lines_are_read_in_order_as_one_list():
    # A proxy may add a line of its own instead of extending the previous one.
    assert client_of(request("6.6.6.6", "203.0.113.7"), proxies=1) == "203.0.113.7"
    assert client_of(request("203.0.113.7", "10.0.0.1"), proxies=2) == "203.0.113.7"


@pytest.mark.parametrize("forwarded, proxies", [
    ((), 1),  # no header at all
    (("203.0.113.7",), 2),  # fewer entries than proxies
    (("203.0.113.7, 10.0.0.1",), 3),
])
def test_a_short_header_falls_back_to_the_connection(forwarded, proxies):
    assert client_of(request(*forwarded), proxies=proxies) == PEER


@pytest.mark.parametrize("entry", ["unknown", "", "<script>", "x" * 10_000, "999.1.1.1",
                                   "2001:db8::g", "_hidden", "1.2.3.4.5"])
def test_an_entry_that_is_no_address_falls_back_to_the_connection(entry):
    assert client_of(request(f"6.6.6.6, {entry}"), proxies=1) == PEER
    assert client_of(request(f"{entry}, 10.0.0.1"), proxies=2) == PEER


def test_garbage_left_of_the_trusted_entries_is_ignored():
    assert client_of(request("x" * 10_000 + ", ,, 203.0.113.7"), proxies=1) == "203.0.113.7"


# === Addresses ===


@pytest.mark.parametrize("entry, expected", [
    ("2001:db8::1", "2001:db8::1"),
    ("2001:DB8:0:0::1", "2001:db8::1"),  # one client, however it is written
    ("[2001:db8::1]", "2001:db8::1"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 in IPv6 form, as dual-stack sockets report
    ("203.0.113.7:5555", "203.0.113.7"),
    ("fe80::1%eth0", "fe80::1"),
])
def test_forwarded_addresses_are_normalised(entry, expected):
    assert client_of(request(entry), proxies=1) == expected


def test_an_ipv6_connection_is_its_address():
    assert client_of(request("6.6.6.6", peer="2001:DB8::7"), proxies=0) == "2001:db8::7"
    assert client_of(request(peer="::ffff:198.51.100.9"), proxies=0) == PEER


# === No request, no address: never the session ===


def test_a_call_from_python_is_the_local_client():
    assert client_of(None) == LOCAL
    assert client_of(None, proxies=3) == LOCAL


def test_a_connection_without_an_address_is_unknown_not_its_session():
    assert client_of(request("6.6.6.6", peer=None, session="mine"), proxies=0) == UNKNOWN
    assert client_of(request(peer=None, session="mine"), proxies=1) == UNKNOWN


def test_a_request_rebuilt_from_its_pickled_state_is_read_the_same():
    # Gradio pickles a gr.Request into plain data (headers a dict, client an object).
    rebuilt = pickle.loads(pickle.dumps(request("6.6.6.6, 203.0.113.7")))
    assert rebuilt.request is None
    assert client_of(rebuilt, proxies=0) == PEER
    assert client_of(rebuilt, proxies=1) == "203.0.113.7"
    assert client_of(rebuilt, proxies=2) == "6.6.6.6"


# === The setting ===


@pytest.mark.parametrize("value, expected", [(None, 0), ("", 0), ("  ", 0), ("0", 0),
                                             ("1", 1), (" 2 ", 2), ("10", 10)])
def test_the_setting_is_a_whole_number_from_zero(value, expected):
    environ = {} if value is None else {TRUSTED_PROXIES: value}
    assert trusted_proxies(environ) == expected


@pytest.mark.parametrize("value", ["-1", "+1", "1.5", "1e2", "one", "1_0", "\u0661", "\u00b2",
                                   "0x1", "1, 2"])
def test_a_bad_setting_is_refused_in_one_line(value):
    with pytest.raises(BadTrustedProxies) as refused:
        trusted_proxies({TRUSTED_PROXIES: value})
    message = str(refused.value)
    assert message.startswith(f"${TRUSTED_PROXIES}: got {value!r}; expected a whole number")
    assert "\n" not in message


def test_client_of_reads_the_setting_at_each_request(monkeypatch):
    forged = request("6.6.6.6, 203.0.113.7")
    monkeypatch.setenv(TRUSTED_PROXIES, "1")
    assert client_of(forged) == "203.0.113.7"
    monkeypatch.setenv(TRUSTED_PROXIES, "2")
    assert client_of(forged) == "6.6.6.6"
    monkeypatch.setenv(TRUSTED_PROXIES, "0")
    assert client_of(forged) == PEER


def test_the_app_refuses_to_start_with_a_bad_setting(monkeypatch, capsys):
    monkeypatch.setenv(TRUSTED_PROXIES, "two")
    # Refused before anything is built or served, so this returns at once.
    assert app.main(["--offline", "--port", "1"]) == 2
    _, stderr = capsys.readouterr()
    assert stderr == (f"app.py: error: ${TRUSTED_PROXIES}: got 'two'; expected a whole number "
                      "from 0 (how many reverse proxies stand in front of the app).\n")
