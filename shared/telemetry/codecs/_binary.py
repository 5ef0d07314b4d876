"""Binary payload layouts shared by the LoRaWAN codecs: fixed frames and type-prefixed records.

Fixed frames are one `struct` unpack after `expect_length`; record formats (Elsys, Milesight)
are a `RecordFormat` table. Both read with `struct`, which does the bounds checking in C: a
payload that ends inside a value is 'too_short', never an IndexError.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from shared.telemetry.codecs import CodecError, Measurement

#: Turns a record's unpacked values into measurements (raises CodecError when out of range).
Convert = Callable[..., list[Measurement]]


class RecordFormat:
    """Payloads made of ``[type][value]`` records whose value layout the type implies.

    ``records`` maps a type to its value's layout and conversion; ``skipped`` maps documented
    types without a Smartby quantity to their value length. Types are read big-endian over
    ``type_size`` bytes (Milesight's channel and type read as one 2-byte type). After an
    unknown type the rest cannot be located, so the whole payload is rejected ('unknown_record')
    rather than half-decoded.
    """

    __slots__ = ("_records", "_skipped", "_type")

    def __init__(
        self,
        type_size: int,
        records: Mapping[int, tuple[struct.Struct, Convert]],
        skipped: Mapping[int, int],
    ) -> None:
        self._type = struct.Struct(">B" if type_size == 1 else ">H")
        self._records = dict(records)
        self._skipped = dict(skipped)

    def decode(self, payload: bytes) -> list[Measurement]:
        if not payload:
            raise CodecError("too_short", "empty payload")
        records, skipped = self._records, self._skipped
        type_layout, type_size = self._type, self._type.size
        measurements: list[Measurement] = []
        position, size = 0, len(payload)
        try:
            while position < size:
                kind = type_layout.unpack_from(payload, position)[0]
                position += type_size
                record = records.get(kind)
                if record is not None:
                    layout, convert = record
                    measurements += convert(*layout.unpack_from(payload, position))
                    position += layout.size
                elif kind in skipped:
                    position += skipped[kind]
                    if position > size:
                        raise struct.error
                else:
                    raise CodecError(
                        "unknown_record",
                        f"unknown record type {kind:0{2 * type_size}x} "
                        f"at offset {position - type_size}",
                    )
        except struct.error:
            raise CodecError("too_short", f"payload ends inside the record at {position}") from None
        return measurements


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
