"""LoRaWAN 1.0.x FRMPayload crypto against published vectors, FCnt rebuilding, cipher cache."""

from __future__ import annotations

import pytest

from shared.telemetry.lorawan import CipherCache, FrmPayloadCipher

# anthonykirby/lora-packet __tests__/decrypt_test.ts and README: AppSKey, DevAddr 49BE7DF1
LORA_PACKET_APPSKEY = bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc588")
LORA_PACKET_DEVADDR = 0x49BE7DF1


def frm_payload(phy_payload_hex: str) -> tuple[int, int, bytes]:
    """Split an uplink without FOpts: MHDR, DevAddr, FCtrl, FCnt, FPort, FRMPayload, MIC."""
    phy = bytes.fromhex(phy_payload_hex)
    return int.from_bytes(phy[1:5], "little"), int.from_bytes(phy[6:8], "little"), phy[9:-4]


def test_decrypts_lora_packet_example() -> None:
    dev_addr, fcnt, payload = frm_payload("40F17DBE4900020001954378762B11FF0D")
    assert (dev_addr, fcnt) == (LORA_PACKET_DEVADDR, 2)
    assert FrmPayloadCipher(LORA_PACKET_APPSKEY).decrypt(payload, dev_addr, fcnt) == b"test"


def test_decrypts_lora_packet_multi_block_example() -> None:
    dev_addr, fcnt, payload = frm_payload(
        "40f17dbe490004000155332de41a11adc072553544429ce7787707d1c316e027e7e5e334263376"
        "affb8aa17ad30075293f28dea8a20af3c5e7"
    )
    plaintext = FrmPayloadCipher(LORA_PACKET_APPSKEY).decrypt(payload, dev_addr, fcnt)
    assert plaintext == b"The quick brown fox jumps over the lazy dog."  # 44 bytes, 3 blocks


def test_wrong_key_scrambles_payload_as_lora_packet_expects() -> None:
    wrong_key = bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc580")
    plaintext = FrmPayloadCipher(wrong_key).decrypt(
        bytes.fromhex("95437876"), LORA_PACKET_DEVADDR, 2
    )
    assert plaintext.hex() == "5999fc3f"


def test_matches_lorawan_stack_uplink_and_downlink_vectors() -> None:
    # TheThingsNetwork/lorawan-stack pkg/crypto/data_messages_test.go TestUplinkDownlinkEncryption
    cipher = FrmPayloadCipher(bytes([1] * 16))
    plaintext = bytes([1, 2, 3, 4])
    assert cipher.encrypt(plaintext, 0x01020304, 1).hex() == "cff30b4e"
    assert cipher.encrypt(plaintext, 0x01020304, 1, uplink=False).hex() == "4e75f440"
    assert cipher.decrypt(bytes.fromhex("cff30b4e"), 0x01020304, 1) == plaintext


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 51, 222, 242])
def test_encrypt_then_decrypt_round_trips(size: int) -> None:
    cipher = FrmPayloadCipher(bytes(range(16)))
    plaintext = bytes((7 * i) % 256 for i in range(size))
    ciphertext = cipher.encrypt(plaintext, 0x26011BDA, 70_000)
    assert len(ciphertext) == size
    assert cipher.decrypt(ciphertext, 0x26011BDA, 70_000) == plaintext
    if size:
        assert ciphertext != plaintext


def test_keystream_depends_on_direction_devaddr_and_full_fcnt() -> None:
    cipher = FrmPayloadCipher(bytes(range(16)))
    zeros = bytes(16)
    streams = {
        cipher.encrypt(zeros, 0x26011BDA, 5),
        cipher.encrypt(zeros, 0x26011BDA, 5, uplink=False),
        cipher.encrypt(zeros, 0x26011BDB, 5),
        cipher.encrypt(zeros, 0x26011BDA, 0x10005),  # same 16 low bits, other full counter
    }
    assert len(streams) == 4


def test_rejects_keys_that_are_not_aes128() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        FrmPayloadCipher(bytes(32))


@pytest.mark.parametrize(
    ("payload", "dev_addr", "fcnt"),
    [(bytes(16 * 255 + 1), 1, 1), (b"x", -1, 1), (b"x", 1, 2**32)],
)
def test_rejects_inputs_outside_the_block_format(payload: bytes, dev_addr: int, fcnt: int) -> None:
    with pytest.raises(ValueError):
        FrmPayloadCipher(bytes(16)).decrypt(payload, dev_addr, fcnt)




class CountingFactory:
    def __init__(self) -> None:
        self.built: list[bytes] = []

    def __call__(self, key: bytes) -> FrmPayloadCipher:
        self.built.append(key)
        return FrmPayloadCipher(key)


def test_cipher_cache_builds_each_device_cipher_once() -> None:
    factory = CountingFactory()
    cache = CipherCache(factory)
    first = cache.get("drammen", "lake-1", bytes(16))
    assert cache.get("drammen", "lake-1", bytes(16)) is first
    assert len(factory.built) == 1


def test_cipher_cache_keeps_tenants_devices_and_rotated_keys_apart() -> None:
    factory = CountingFactory()
    cache = CipherCache(factory)
    old = cache.get("drammen", "lake-1", bytes(16))
    ciphers = {
        id(old),
        id(cache.get("sandefjord", "lake-1", bytes(16))),
        id(cache.get("drammen", "lake-2", bytes(16))),
        id(cache.get("drammen", "lake-1", bytes([1] * 16))),  # rotated key
    }
    assert len(ciphers) == 4
    assert len(cache) == 3  # the rotated key's cipher replaced the old one
    assert cache.get("drammen", "lake-1", bytes([1] * 16)) is not old


def test_cipher_cache_evicts_least_recently_used() -> None:
    factory = CountingFactory()
    cache = CipherCache(factory, max_entries=2)
    cache.get("t", "a", bytes(16))
    cache.get("t", "b", bytes(16))
    cache.get("t", "a", bytes(16))  # a is now the most recently used
    cache.get("t", "c", bytes(16))  # evicts b
    assert len(cache) == 2
    cache.get("t", "a", bytes(16))
    assert len(factory.built) == 3
    cache.get("t", "b", bytes(16))
    assert len(factory.built) == 4


def test_cipher_cache_does_not_cache_invalid_keys() -> None:
    cache = CipherCache(FrmPayloadCipher)
    with pytest.raises(ValueError):
        cache.get("t", "a", bytes(8))
    assert len(cache) == 0
