"""Dotted-quad IPs are judged on their octets exactly as ipaddress judges them."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.loaders.normalize import Skip, _ipv4
from ringfence.model import Identifier

_OCTET = st.one_of(st.integers(0, 999), st.sampled_from([0, 127, 255, 256]))


def _by_ipaddress(text: str, octets: list[int]) -> Identifier | Skip:
    """The ipaddress route these octets took before they had their own."""
    try:
        address = ipaddress.ip_address(".".join(str(o) for o in octets))
    except ValueError:
        return Identifier("ip", text.lower(), text, valid=False)
    if address.is_unspecified:
        return Skip("placeholder", "unspecified address")
    if address.is_loopback:
        return Skip("placeholder", "loopback address")
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return Skip("placeholder", "broadcast address")
    return Identifier("ip", str(address), str(address))


@settings(max_examples=3000, deadline=None)
@given(octets=st.lists(_OCTET, min_size=4, max_size=4), pad=st.booleans())
def test_octets_are_judged_as_ipaddress_judges_them(
    octets: list[int], pad: bool
) -> None:
    text = ".".join(f"{o:03d}" if pad else str(o) for o in octets)
    assert _ipv4(text, octets) == _by_ipaddress(text, octets)
