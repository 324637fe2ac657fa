"""The join link and its QR code, for the teacher to put on the projector, at an address phones can open."""

from __future__ import annotations

import io
import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno

from .store import normalize_code

QR_SCALE = 10  # pixels per module: about 400 px for a join link, sharp on a projector
QR_BORDER = 4  # modules of quiet zone around the code, as the standard asks
PUBLIC_URL_ENV = "CONVNET_LAB_PUBLIC_URL"  # the app's address as phones open it, e.g. https://lab.school.example/


@dataclass(frozen=True)
class JoinAddress:
    """Where students open the app, and how that address was found."""

    url: str  # the app's address, ending in "/"
    source: str  # "configured", "browser" (the teacher's own address), "network" (this machine's), or "none"


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine only: localhost, 127.x, ::1, or the any-address 0.0.0.0."""
    if not host:
        return True
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def join_address(browser_url: str, public_url: str = "", server_address: str = "", server_port: int | None = None,
                 network_ip: str | None = None) -> JoinAddress:
    """The app's address for students' phones.

    Args:
        browser_url: the app's address in the teacher's browser.
        public_url: a configured public address ($CONVNET_LAB_PUBLIC_URL); wins when given.
        server_address: Streamlit's ``browser.serverAddress`` when set by whoever runs the server.
        server_port: Streamlit's ``browser.serverPort`` when set; else the port the teacher uses.
        network_ip: this machine's address on its network (``streamlit.net_util.get_internal_ip``).

    Returns:
        The teacher's own address unless it is loopback (``localhost`` on a phone is the phone),
        then ``server_address`` or ``network_ip`` with the same port; ``source`` says which.
    """
    if public_url.strip():
        return JoinAddress(_with_slash(public_url.strip()), "configured")
    parts = urlsplit(browser_url)
    if not is_loopback(parts.hostname):
        return JoinAddress(_with_slash(browser_url), "browser")
    host = server_address if server_address and not is_loopback(server_address) else network_ip
    if not host or is_loopback(host):
        return JoinAddress(_with_slash(browser_url), "none")
    port = server_port or parts.port
    netloc = f"[{host}]" if ":" in host else host
    return JoinAddress(_with_slash(urlunsplit(parts._replace(netloc=f"{netloc}:{port}" if port else netloc))),
                       "network")


def _with_slash(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path if parts.path.endswith("/") else parts.path + "/",
                                     query="", fragment=""))


def join_url(base_url: str, code: str) -> str:
    """The link students open: the app's address with ``?class=CODE``, its other query parameters kept."""
    parts = urlsplit(base_url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "class"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("class", normalize_code(code))])))


def qr_png(text: str, scale: int = QR_SCALE, fit: int | None = None) -> bytes:
    """A PNG of a QR code holding ``text``, black on white, with the standard quiet zone.

    Always a full QR code (never a Micro QR, which phone cameras often ignore), at error
    correction level M or better so a smudged projector still scans. ``fit`` picks the largest
    whole ``scale`` that keeps the picture within that many pixels: a code is shown at its own
    size, never resampled into blurred modules.
    """
    code = segno.make_qr(text, error="m")
    if fit is not None:
        scale = max(1, fit // (code.symbol_size(scale=1, border=QR_BORDER)[0]))
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=QR_BORDER)
    return out.getvalue()
