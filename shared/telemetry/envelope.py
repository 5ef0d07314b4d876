"""AES-256-GCM envelope for IP devices, each with its own 32-byte key.

Wire format, a JSON object with exactly these members:

    {"v": 1, "alg": "A256GCM", "seq": 1731000000, "iv": "<base64: 12 bytes>",
     "ct": "<base64: ciphertext || tag>"}

``seq`` is the device's message counter, an unsigned 32-bit number that grows with every
message: a counter the device keeps across restarts, or its Unix time in seconds if it sends at
most once a second. Ingest treats it as a LoRaWAN frame counter: the same ``seq`` again is a
redelivery (or a replay), and one older than the device's recent window is refused, so a
captured envelope opens once. ``iv`` is a fresh random 96-bit nonce per message and ``ct`` is
the ciphertext followed by the 16-byte GCM tag (standard base64 with padding, as
``cryptography``'s AESGCM returns it). The associated data is ``f"{tenant}/{device_id}/{seq}"``
in UTF-8: the tag binds the message to one device of one tenant and to its counter, so a
ciphertext cannot be replayed as another device's, under a neighbouring municipality, or under
another ``seq``. Tenant ids must not contain "/", which keeps that string unambiguous.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.telemetry.lorawan import CipherCache

VERSION = 1
MAX_SEQ = 0xFFFFFFFF
_MEMBERS = frozenset({"v", "alg", "seq", "iv", "ct"})
ALGORITHM = "A256GCM"
KEY_BYTES = 32
IV_BYTES = 12
TAG_BYTES = 16
MAX_CIPHERTEXT_BYTES = 64 * 1024  # far above any device message; bounds work on bad input

_AEADS: CipherCache[AESGCM] = CipherCache(AESGCM)


class EnvelopeError(ValueError):
    """An envelope that cannot be opened; ``reason`` is 'bad_envelope', 'bad_key' or
    'auth_failed' (wrong key, tampered, or sealed for another device or tenant)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Envelope(NamedTuple):
    """A well-formed envelope, not yet opened: its counter, nonce and ciphertext with tag."""

    seq: int
    iv: bytes
    ct: bytes


def _aad(tenant: str, device_id: str, seq: int) -> bytes:
    if not tenant or "/" in tenant or not device_id:
        raise ValueError("tenant and device id must be non-empty, and the tenant has no '/'")
    return f"{tenant}/{device_id}/{seq}".encode()


def _aead(key: bytes, tenant: str, device_id: str) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise EnvelopeError("bad_key", f"device key is {len(key)} bytes, expected {KEY_BYTES}")
    return _AEADS.get(tenant, device_id, key)


def _b64_field(envelope: Mapping[str, Any], name: str, max_bytes: int) -> bytes:
    value = envelope.get(name)
    if not isinstance(value, str):
        raise EnvelopeError("bad_envelope", f"{name} must be a base64 string")
    if len(value) > 4 * -(-max_bytes // 3):  # refuse before decoding a huge string
        raise EnvelopeError("bad_envelope", f"{name} is longer than {max_bytes} bytes")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("bad_envelope", f"{name} is not valid base64") from None
    if len(decoded) > max_bytes:
        raise EnvelopeError("bad_envelope", f"{name} is longer than {max_bytes} bytes")
    return decoded


def seal_envelope(
    plaintext: bytes, key: bytes, tenant: str, device_id: str, seq: int
) -> dict[str, Any]:
    """Encrypt ``plaintext`` as message ``seq`` of one device of one tenant (used by the
    simulator and tests)."""
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq is an unsigned 32-bit counter, not {seq}")
    iv = os.urandom(IV_BYTES)
    ciphertext = _aead(key, tenant, device_id).encrypt(iv, plaintext, _aad(tenant, device_id, seq))
    return {
        "v": VERSION,
        "alg": ALGORITHM,
        "seq": seq,
        "iv": base64.b64encode(iv).decode("ascii"),
        "ct": base64.b64encode(ciphertext).decode("ascii"),
    }


def parse_envelope(envelope: Any) -> Envelope:
    """Check an envelope's form (members, version, algorithm, counter, sizes); raise
    EnvelopeError('bad_envelope')."""
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("bad_envelope", "envelope must be a JSON object")
    if envelope.keys() != _MEMBERS:
        raise EnvelopeError(
            "bad_envelope", f"an envelope has exactly the members {', '.join(sorted(_MEMBERS))}"
        )
    if type(envelope["v"]) is not int or envelope["v"] != VERSION:
        raise EnvelopeError("bad_envelope", f"unsupported envelope version {envelope['v']!r:.20}")
    if envelope["alg"] != ALGORITHM:
        raise EnvelopeError("bad_envelope", f"unsupported algorithm {envelope['alg']!r:.20}")
    seq = envelope["seq"]
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise EnvelopeError("bad_envelope", "seq must be an unsigned 32-bit counter")
    iv = _b64_field(envelope, "iv", IV_BYTES)
    ciphertext = _b64_field(envelope, "ct", MAX_CIPHERTEXT_BYTES + TAG_BYTES)
    if len(iv) != IV_BYTES:
        raise EnvelopeError("bad_envelope", f"iv is {len(iv)} bytes, expected {IV_BYTES}")
    if len(ciphertext) < TAG_BYTES:
        raise EnvelopeError("bad_envelope", f"ct is {len(ciphertext)} bytes, shorter than a tag")
    return Envelope(seq, iv, ciphertext)


def open_envelope(envelope: Envelope, key: bytes, tenant: str, device_id: str) -> bytes:
    """Verify and decrypt an envelope sealed for (tenant, device_id); raise EnvelopeError."""
    aad = _aad(tenant, device_id, envelope.seq)
    try:
        return _aead(key, tenant, device_id).decrypt(envelope.iv, envelope.ct, aad)
    except InvalidTag:
        raise EnvelopeError(
            "auth_failed", "authentication failed: wrong key, tampered, or another device's"
        ) from None
