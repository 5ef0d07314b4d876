"""AES-256-GCM envelope: wire format, binding to tenant and device, and rejection reasons."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.telemetry.envelope import (
    MAX_CIPHERTEXT_BYTES,
    TAG_BYTES,
    EnvelopeError,
    open_envelope,
    parse_envelope,
    seal_envelope,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PLAINTEXT = b'{"temperature": 4.2}'


SEQ = 1_731_000_000


def sealed() -> dict[str, Any]:
    return seal_envelope(PLAINTEXT, KEY, "drammen", "lake-1", SEQ)


def opened(
    envelope: Any, key: bytes = KEY, tenant: str = "drammen", device: str = "lake-1"
) -> bytes:
    return open_envelope(parse_envelope(envelope), key, tenant, device)


def reason(envelope: Any, key: bytes = KEY, tenant: str = "drammen", device: str = "lake-1") -> str:
    with pytest.raises(EnvelopeError) as caught:
        opened(envelope, key, tenant, device)
    return caught.value.reason


def test_seal_then_open_round_trips() -> None:
    assert opened(sealed()) == PLAINTEXT
    assert parse_envelope(sealed()).seq == SEQ


def test_sealed_envelope_has_the_documented_wire_format() -> None:
    envelope = sealed()
    assert envelope.keys() == {"v", "alg", "seq", "iv", "ct"}
    assert (envelope["v"], envelope["alg"], envelope["seq"]) == (1, "A256GCM", SEQ)
    assert len(base64.b64decode(envelope["iv"], validate=True)) == 12
    assert len(base64.b64decode(envelope["ct"], validate=True)) == len(PLAINTEXT) + 16


def test_opens_an_envelope_built_independently_from_the_format_description() -> None:
    iv = bytes(12)
    ct = AESGCM(KEY).encrypt(iv, PLAINTEXT, b"drammen/lake-1/7")
    envelope = {
        "v": 1,
        "alg": "A256GCM",
        "seq": 7,
        "iv": base64.b64encode(iv).decode(),
        "ct": base64.b64encode(ct).decode(),
    }
    assert opened(envelope) == PLAINTEXT


def test_each_seal_uses_a_fresh_iv() -> None:
    assert sealed()["iv"] != sealed()["iv"]


@pytest.mark.parametrize(
    ("tenant", "device"),
    [("drammen", "lake-2"), ("sandefjord", "lake-1")],
)
def test_ciphertext_cannot_be_replayed_as_another_device_or_tenant(
    tenant: str, device: str
) -> None:
    assert reason(sealed(), tenant=tenant, device=device) == "auth_failed"


def test_ciphertext_cannot_be_replayed_under_another_seq() -> None:
    assert reason({**sealed(), "seq": SEQ + 1}) == "auth_failed"


def test_wrong_key_fails_authentication() -> None:
    assert reason(sealed(), key=OTHER_KEY) == "auth_failed"


@pytest.mark.parametrize("field", ["iv", "ct"])
def test_tampered_envelope_fails_authentication(field: str) -> None:
    envelope = sealed()
    raw = bytearray(base64.b64decode(envelope[field]))
    raw[0] ^= 0x01
    envelope[field] = base64.b64encode(bytes(raw)).decode()
    assert reason(envelope) == "auth_failed"


@pytest.mark.parametrize("key", [bytes(16), bytes(31), b""])
def test_keys_other_than_256_bits_are_rejected(key: bytes) -> None:
    assert reason(sealed(), key=key) == "bad_key"
    with pytest.raises(EnvelopeError) as caught:
        seal_envelope(PLAINTEXT, key, "drammen", "lake-1", SEQ)
    assert caught.value.reason == "bad_key"


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": True},
        {"v": "1"},
        {"alg": "A128GCM"},
        {"iv": None},
        {"iv": "not base64!"},
        {"iv": base64.b64encode(bytes(16)).decode()},
        {"ct": base64.b64encode(bytes(15)).decode()},
        {"ct": 12},
        {"seq": -1},
        {"seq": 2**32},
        {"seq": 1.0},
        {"seq": True},
        {"seq": "7"},
        {"note": "an extra member would let a replay look like a new message"},
    ],
)
def test_malformed_envelopes_are_rejected(change: dict[str, Any]) -> None:
    assert reason({**sealed(), **change}) == "bad_envelope"


def test_an_envelope_without_seq_is_malformed() -> None:
    envelope = sealed()
    del envelope["seq"]
    assert reason(envelope) == "bad_envelope"


@pytest.mark.parametrize("envelope", [[], "envelope", None, {}])
def test_non_envelopes_are_rejected(envelope: Any) -> None:
    assert reason(envelope) == "bad_envelope"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (MAX_CIPHERTEXT_BYTES + TAG_BYTES, "auth_failed"),  # within bounds: reaches GCM
        (MAX_CIPHERTEXT_BYTES + TAG_BYTES + 1, "bad_envelope"),
        (10 * MAX_CIPHERTEXT_BYTES, "bad_envelope"),
    ],
)
def test_ciphertext_size_is_bounded_before_decryption(size: int, expected: str) -> None:
    envelope = {**sealed(), "ct": base64.b64encode(bytes(size)).decode()}
    assert reason(envelope) == expected


def test_tenant_ids_with_a_slash_are_refused_so_the_aad_stays_unambiguous() -> None:
    # "a/b" + "c" and "a" + "b/c" would otherwise share the associated data "a/b/c"
    with pytest.raises(ValueError, match="tenant"):
        seal_envelope(PLAINTEXT, KEY, "a/b", "c", SEQ)
