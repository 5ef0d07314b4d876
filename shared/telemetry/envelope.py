"""AES-256-GCM envelope for IP devices, each with its own 32-byte key.

Wire format, a JSON object:

    {"v": 1, "alg": "A256GCM", "iv": "<base64: 12 bytes>", "ct": "<base64: ciphertext || tag>"}

``iv`` is a fresh random 96-bit nonce per message and ``ct`` is the ciphertext followed by the
16-byte GCM tag (standard base64 with padding, as ``cryptography``'s AESGCM returns it). The
associated data is ``f"{tenant}/{device_id}"`` in UTF-8: the tag binds the message to one device
of one tenant, so a ciphertext captured from one device cannot be replayed as another's, nor
under a neighbouring municipality. Tenant ids must not contain "/", which keeps that string
unambiguous. The envelope does not stop a replay of the same device's own message; ingest is
idempotent on the decoded content for that.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.telemetry.lorawan import CipherCache

VERSION = 1
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


def _aad(tenant: str, device_id: str) -> bytes:
    if not tenant or "/" in tenant or not device_id:
        raise ValueError("tenant and device id must be non-empty, and the tenant has no '/'")
    return f"{tenant}/{device_id}".encode()


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


def seal_envelope(plaintext: bytes, key: bytes, tenant: str, device_id: str) -> dict[str, Any]:
    """Encrypt ``plaintext`` for one device of one tenant (used by the simulator and tests)."""
    aad = _aad(tenant, device_id)
    iv = os.urandom(IV_BYTES)
    ciphertext = _aead(key, tenant, device_id).encrypt(iv, plaintext, aad)
    return {
        "v": VERSION,
        "alg": ALGORITHM,
        "iv": base64.b64encode(iv).decode("ascii"),
        "ct": base64.b64encode(ciphertext).decode("ascii"),
    }


def open_envelope(envelope: Mapping[str, Any], key: bytes, tenant: str, device_id: str) -> bytes:
    """Verify and decrypt an envelope sealed for (tenant, device_id); raise EnvelopeError."""
    aad = _aad(tenant, device_id)
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("bad_envelope", "envelope must be a JSON object")
    if type(envelope.get("v")) is not int or envelope["v"] != VERSION:
        raise EnvelopeError(
            "bad_envelope", f"unsupported envelope version {envelope.get('v')!r:.20}"
        )
    if envelope.get("alg") != ALGORITHM:
        raise EnvelopeError("bad_envelope", f"unsupported algorithm {envelope.get('alg')!r:.20}")
    iv = _b64_field(envelope, "iv", IV_BYTES)
    ciphertext = _b64_field(envelope, "ct", MAX_CIPHERTEXT_BYTES + TAG_BYTES)
    if len(iv) != IV_BYTES:
        raise EnvelopeError("bad_envelope", f"iv is {len(iv)} bytes, expected {IV_BYTES}")
    if len(ciphertext) < TAG_BYTES:
        raise EnvelopeError("bad_envelope", f"ct is {len(ciphertext)} bytes, shorter than a tag")
    aead = _aead(key, tenant, device_id)
    try:
        return aead.decrypt(iv, ciphertext, aad)
    except InvalidTag:
        raise EnvelopeError(
            "auth_failed", "authentication failed: wrong key, tampered, or another device's"
        ) from None
