"""Pure functions of the classroom: whose address a request is, and where phones open the app."""

import ipaddress
import socket

import pytest

from classroom.clients import client_address, forwarded_hops, rate_key, trusted_proxies
from classroom.qr import is_loopback, join_address

NO_PROXY = trusted_proxies("")
LOCAL_PROXY = trusted_proxies("127.0.0.1, ::1")


def what_streamlit_reports(peer: str, forwarded: list[str]) -> str | None:
    """``st.context.ip_address`` as uvicorn and Streamlit make it: a loopback peer's address is replaced by
    the last non-loopback hop of its X-Forwarded-For, and a loopback address is reported as None."""
    seen = peer
    if peer in ("127.0.0.1", "::1") and forwarded:
        hops = forwarded_hops(forwarded)
        seen = next((h for h in reversed(hops) if h not in ("127.0.0.1", "::1")), hops[0])
    return None if seen in ("127.0.0.1", "::1") else seen


@pytest.mark.parametrize("peer", ["127.0.0.1", "192.168.1.23"])
def test_a_forged_forwarded_for_without_a_configured_proxy_never_gets_a_fresh_counter(peer):
    keys = {rate_key(client_address(what_streamlit_reports(peer, [f"10.9.{i}.{i}"]),
                                     forwarded_hops([f"10.9.{i}.{i}"]), NO_PROXY)) for i in range(40)}
    assert keys == {rate_key(peer)}  # 40 forged headers, one counter: the connection's own


@pytest.mark.parametrize("forged", ["10.9.0.1", "127.0.0.1", "10.9.0.1, 127.0.0.1", "garbage", "[::1]:80",
                                    "10.9.0.1:5555", "192.168.1.23, 10.9.0.1"])
def test_a_forged_header_from_a_student_machine_counts_against_that_machine(forged):
    peer = "192.168.1.23"  # a student on the school Wi-Fi, talking straight to the server
    assert client_address(what_streamlit_reports(peer, [forged]), forwarded_hops([forged]), NO_PROXY) == peer


def test_behind_a_configured_proxy_each_client_counts_on_its_own():
    for client in ("203.0.113.7", "198.51.100.4"):  # nginx on the server itself, in front of Streamlit
        hops = [client]
        assert client_address(what_streamlit_reports("127.0.0.1", hops), forwarded_hops(hops), LOCAL_PROXY) == client
    # a client cannot pick its counter by prepending hops: the proxy appends the address it saw
    hops = ["10.9.9.9, 203.0.113.7"]
    assert client_address(what_streamlit_reports("127.0.0.1", hops), forwarded_hops(hops), LOCAL_PROXY) == \
        "203.0.113.7"


def test_a_proxy_elsewhere_is_trusted_by_network_or_by_name():
    proxies = trusted_proxies("172.18.0.0/16")  # Traefik in a compose network
    assert client_address("172.18.0.5", forwarded_hops(["203.0.113.7"]), proxies) == "203.0.113.7"
    assert client_address("172.19.0.5", forwarded_hops(["203.0.113.7"]), proxies) == "172.19.0.5"  # not that one
    by_name = trusted_proxies("localhost, not-a-host.invalid, 10.0.0.256")
    resolved = {str(ipaddress.ip_address(info[4][0])) for info in socket.getaddrinfo("localhost", None)}
    assert {str(net.network_address) for net in by_name} == resolved  # the rest trust nothing


@pytest.mark.parametrize("address, key", [
    ("192.168.1.23", "ip:192.168.1.23"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "ip:2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "ip:2001:db8:1:2::/64"),  # the same phone, another privacy address
    ("::ffff:10.0.0.1", "ip:10.0.0.1"),
    ("x" * 500, "ip:" + "x" * 64),
])
def test_rate_keys_group_a_phones_ipv6_addresses(address, key):
    assert rate_key(address) == key


@pytest.mark.parametrize("host, loopback", [
    ("localhost", True), ("app.localhost", True), ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", True), (None, True), ("192.168.1.23", False), ("lab.school.example", False),
])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) == loopback


def test_a_teacher_on_localhost_gets_a_link_phones_can_open():
    found = join_address("http://localhost:8501/", network_ip="192.168.1.23")
    assert (found.url, found.source) == ("http://192.168.1.23:8501/", "network")
    assert join_address("http://127.0.0.1:9000/lab/", network_ip="10.0.0.5").url == "http://10.0.0.5:9000/lab/"
    assert join_address("http://[::1]:8501/", network_ip="fd00::5").url == "http://[fd00::5]:8501/"
    assert join_address("http://localhost:8501/", network_ip=None).source == "none"  # said on the page


def test_a_configured_address_wins_and_a_real_one_is_kept():
    assert join_address("http://localhost:8501/", public_url="https://lab.school.example",
                        network_ip="192.168.1.23").url == "https://lab.school.example/"
    assert join_address("http://localhost:8501/", server_address="lab.local", server_port=80,
                        network_ip="192.168.1.23").url == "http://lab.local:80/"
    assert join_address("http://localhost:8501/", server_address="localhost",
                        network_ip="192.168.1.23").url == "http://192.168.1.23:8501/"
    kept = join_address("http://192.168.1.23:8501/?x=1", network_ip="10.0.0.5")
    assert (kept.url, kept.source) == ("http://192.168.1.23:8501/", "browser")
