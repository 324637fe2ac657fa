"""Who is asking: the client address that rate limits count against.

A browser's address comes from the connection itself. A proxy's ``X-Forwarded-For``
header is believed only when the connection comes from a proxy the operator named in
``$CONVNET_LAB_TRUSTED_PROXIES`` (addresses, networks or host names, comma-separated):
anyone can write that header, so without a configured proxy a forged one must not give
a client a fresh counter.

One wrinkle: the web server under Streamlit (uvicorn) already replaces the address of a
connection from this machine (127.0.0.1 or ::1) by what its ``X-Forwarded-For`` says.
``client_address`` notices that and undoes it unless this machine is a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

TRUSTED_PROXIES_ENV = "CONVNET_LAB_TRUSTED_PROXIES"
LOOPBACK = "127.0.0.1"
_UVICORN_TRUSTS = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))  # its default
IPV6_PREFIX = 64  # a phone changes its IPv6 address at will within its /64: count the /64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(setting: str | None) -> tuple[Network, ...]:
    """The networks of ``$CONVNET_LAB_TRUSTED_PROXIES``: ``10.0.0.5``, ``10.0.0.0/8``, ``::1``, ``proxy``.

    A host name (a container's, say) is looked up now; one that does not resolve, or a
    malformed entry, trusts nothing.
    """
    networks: list[Network] = []
    for entry in (part.strip() for part in (setting or "").split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            networks.extend(ipaddress.ip_network(address) for address in _resolve(entry))
    return tuple(networks)


def _resolve(host: str) -> set[str]:
    try:
        return {info[4][0].split("%")[0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return set()


def forwarded_hops(header_values: Iterable[str]) -> list[str]:
    """The addresses of ``X-Forwarded-For`` headers, oldest first, ports and brackets removed."""
    hops = []
    for value in header_values:
        for part in str(value).split(","):
            if part.strip():
                hops.append(_host(part.strip()))
    return hops


def _host(value: str) -> str:
    """``1.2.3.4:80`` -> ``1.2.3.4``, ``[::1]:80`` -> ``::1``; anything else as it is."""
    if value.startswith("[") and "]" in value:
        return value[1:value.index("]")]
    if value.count(":") == 1:
        return value.split(":")[0]
    return value


def _trusted(host: str, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _client_of(hops: list[str], proxies: Sequence[Network]) -> str | None:
    """The last hop that is not one of ``proxies``: whom the nearest trusted proxy saw (as uvicorn picks it)."""
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else None


def client_address(seen: str | None, hops: list[str], proxies: Sequence[Network]) -> str:
    """The address to count a client's attempts against.

    Args:
        seen: the address Streamlit reports (``st.context.ip_address``; None for this machine).
        hops: ``forwarded_hops`` of the request's ``X-Forwarded-For`` headers.
        proxies: ``trusted_proxies`` of the operator's setting.

    Returns:
        The connection's own address, or, when that is a trusted proxy, the client it forwarded.
    """
    peer = seen or LOOPBACK
    if hops and peer == _client_of(hops, _UVICORN_TRUSTS):  # uvicorn put the header's word in place of this machine
        peer = LOOPBACK
    if not _trusted(peer, proxies):
        return peer
    return _client_of(hops, proxies) or peer


def rate_key(address: str) -> str:
    """The counter for an address: the address itself, or its /64 for IPv6 (one phone, many addresses)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{str(address)[:64]}"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return f"ip:{parsed.ipv4_mapped}"
    if isinstance(parsed, ipaddress.IPv6Address):
        return f"ip:{ipaddress.ip_network(f'{parsed}/{IPV6_PREFIX}', strict=False)}"
    return f"ip:{parsed}"
