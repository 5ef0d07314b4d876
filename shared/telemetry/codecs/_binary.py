"""Bounds-checked reading of binary payloads, shared by the LoRaWAN codecs."""

from __future__ import annotations

from typing import Literal

from shared.telemetry.codecs import CodecError


class Reader:
    """Cursor over a payload in one byte order; running off the end raises 'too_short'."""

    __slots__ = ("_data", "_order", "_position", "_size")

    def __init__(self, data: bytes, order: Literal["big", "little"]) -> None:
        self._data = data
        self._order: Literal["big", "little"] = order
        self._position = 0
        self._size = len(data)

    @property
    def position(self) -> int:
        return self._position

    @property
    def remaining(self) -> int:
        return len(self._data) - self._position

    def take(self, size: int) -> bytes:
        start = self._position
        end = start + size
        if end > self._size:
            self._too_short(size)
        self._position = end
        return self._data[start:end]

    def uint(self, size: int) -> int:
        # Inlined `take`: every field of every payload comes through here.
        start = self._position
        end = start + size
        if end > self._size:
            self._too_short(size)
        self._position = end
        if size == 1:
            return self._data[start]
        return int.from_bytes(self._data[start:end], self._order)

    def sint(self, size: int) -> int:
        """Two's-complement read: sign extension comes from int.from_bytes, not bit tricks."""
        start = self._position
        end = start + size
        if end > self._size:
            self._too_short(size)
        self._position = end
        return int.from_bytes(self._data[start:end], self._order, signed=True)

    def _too_short(self, size: int) -> None:
        raise CodecError(
            "too_short",
            f"needs {size} more byte(s) at offset {self._position}, has {self.remaining}",
        )


def expect_length(payload: bytes, size: int) -> None:
    """Fixed-layout formats: anything but exactly ``size`` bytes is not this format."""
    if len(payload) < size:
        raise CodecError("too_short", f"payload has {len(payload)} byte(s), expected {size}")
    if len(payload) > size:
        raise CodecError("bad_length", f"payload has {len(payload)} byte(s), expected {size}")


def expect_port(fport: int, port: int) -> None:
    """Formats whose other ports carry other frame types (status, datalog, config)."""
    if fport != port:
        raise CodecError("unsupported_port", f"measurements come on FPort {port}, not {fport}")
