"""LoRaWAN 1.0.x FRMPayload encryption (LoRaWAN 1.0.x specification, section 4.3.3).

The payload is XORed with a keystream S = AES-128(key, A1) | AES-128(key, A2) | ..., where

    Ai = 0x01 | 0x00 x 4 | Dir | DevAddr (4, little-endian) | FCnt (4, little-endian) | 0x00 | i

with Dir 0 for uplink and 1 for downlink, and key the AppSKey (FPort > 0) or the NwkSKey
(FPort 0); choosing the key is the caller's business. Encryption and decryption are the same
operation. The frame carries only the 16 low bits of FCnt; the network server rebuilds the 32-bit
counter the keystream needs, and The Things Stack (`f_cnt`) and ChirpStack (`fCnt`) forward that
full counter. Ingest takes it as it comes: guessing a rollover from 16 bits would misread a
device reset (or the console's simulated uplink, FCnt 0) as a counter far ahead, and make every
real frame after it look regressed.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.lru import Lru

_BLOCK = 16
_MAX_BLOCKS = 255  # the block counter i is a single octet
# Ai without its final counter octet: 0x01, 4 zero octets, Dir, DevAddr, FCnt, 0x00.
_A_BLOCK_PREFIX = struct.Struct("<B4xBIIx")
_COUNTERS = tuple(bytes((i,)) for i in range(_MAX_BLOCKS + 1))


class FrmPayloadCipher:
    """AES-128 keystream for one session key; built once per device and cached.

    Key setup is the slowest part, so one ECB encryptor is kept for the key's lifetime. ECB
    holds no state between ``update`` calls given whole blocks; the lock only keeps OpenSSL's
    context single-threaded when the Functions host runs invocations on several threads.
    """

    __slots__ = ("_encryptor", "_lock")

    def __init__(self, session_key: bytes) -> None:
        if len(session_key) != 16:
            raise ValueError("a LoRaWAN session key is 16 bytes (AES-128)")
        # ECB over the A-blocks is how the spec builds its counter-mode keystream.
        cipher = Cipher(algorithms.AES(session_key), modes.ECB())  # noqa: S305
        self._encryptor = cipher.encryptor()
        self._lock = threading.Lock()

    def decrypt(self, payload: bytes, dev_addr: int, fcnt: int, uplink: bool = True) -> bytes:
        """XOR ``payload`` with the keystream for (direction, DevAddr, 32-bit FCnt)."""
        size = len(payload)
        if not size:
            return b""
        blocks = -(-size // _BLOCK)
        if blocks > _MAX_BLOCKS:
            raise ValueError(f"FRMPayload of {size} bytes exceeds {_MAX_BLOCKS} AES blocks")
        try:
            prefix = _A_BLOCK_PREFIX.pack(0x01, 0 if uplink else 1, dev_addr, fcnt)
        except struct.error:
            raise ValueError("DevAddr and FCnt are unsigned 32-bit values") from None
        if blocks == 1:  # most sensor payloads fit one block
            a_blocks = prefix + _COUNTERS[1]
        else:
            a_blocks = b"".join([prefix + _COUNTERS[i] for i in range(1, blocks + 1)])
        with self._lock:
            keystream = self._encryptor.update(a_blocks)
        mixed = int.from_bytes(payload, "big") ^ int.from_bytes(keystream[:size], "big")
        return mixed.to_bytes(size, "big")

    encrypt = decrypt


CipherT = TypeVar("CipherT")


class CipherCache(Generic[CipherT]):
    """Bounded LRU of ciphers, one per (tenant, device), remembering the key each was built for.

    Ingest asks for a device's cipher on every message; building it means key setup, so it is
    built once and reused. A rotated key (another key for the same device) builds a new cipher
    that replaces the old one. The key is compared, not hashed: a lookup is a dict get and a
    16-byte comparison, and the key store's cache holds the same key in memory anyway.
    """

    def __init__(self, factory: Callable[[bytes], CipherT], max_entries: int = 10_000) -> None:
        self._factory = factory
        self._entries: Lru[tuple[str, str], tuple[bytes, CipherT]] = Lru(max_entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tenant: str, device_id: str, key: bytes) -> CipherT:
        """Return the cached cipher for this device and key, building it on first use."""
        device = (tenant, device_id)
        entry = self._entries.get(device)
        if entry is not None and entry[0] == key:
            return entry[1]
        cipher = self._factory(key)  # outside the cache's lock: key setup must not serialise ingest
        self._entries.put(device, (key, cipher))
        return cipher
