"""Session keys a network server forwards never reach a quarantine record."""

from __future__ import annotations

import orjson
import pytest

from shared.telemetry.quarantine import REDACTED, without_keys


def test_key_fields_are_redacted_at_any_depth_and_in_lists():
    message = {
        "end_device_ids": {"device_id": "eui-70b3d57ed0000001"},
        "uplink_message": {"app_s_key": {"key": "2B7E1516"}, "f_cnt": 5},
        "join_accept": [{"nwk_s_key": "00"}, {"appSKey": "11", "kept": "app_s_key"}],
    }
    redacted = orjson.loads(without_keys(orjson.dumps(message)))
    assert redacted == {
        "end_device_ids": {"device_id": "eui-70b3d57ed0000001"},
        "uplink_message": {"app_s_key": REDACTED, "f_cnt": 5},
        "join_accept": [{"nwk_s_key": REDACTED}, {"appSKey": REDACTED, "kept": "app_s_key"}],
    }


def test_smartbys_own_key_fields_are_redacted_too():
    """A registration body posted to an ingest URL by mistake carries the device's key."""
    secret = "7f" * 32
    registration = {"model": "json", "name": "Havna", "aesKey": secret, "appSKey": secret[:32]}
    kept = without_keys(orjson.dumps(registration))
    assert secret[:32].encode() not in kept
    assert orjson.loads(kept) == {"model": "json", "name": "Havna", "aesKey": REDACTED,
                                  "appSKey": REDACTED}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"uplink_message": {"frm_payload": "AQI="}}',  # no key field: the bytes as they came
        b"{not json",
        b'"app_s_key"',  # JSON naming a key field, but no object holding one
    ],
)
def test_messages_without_key_fields_are_kept_byte_for_byte(raw: bytes):
    assert without_keys(raw) is raw


@pytest.mark.parametrize("raw", [b'{"app_s_key": "2B7E1516"', b"\xff\xfeappSKey 2B7E1516"])
def test_a_message_naming_a_key_field_that_cannot_be_parsed_is_withheld(raw: bytes):
    kept = without_keys(raw)
    assert b"2B7E1516" not in kept and "withheld" in orjson.loads(kept)


def _nested(levels: int) -> bytes:
    """`{"next": {"next": ... {"app_s_key": "00"}}}` as JSON text (deeper than orjson writes)."""
    return b'{"next": ' * levels + b'{"app_s_key": "00"}' + b"}" * levels


def test_nesting_deeper_than_the_recursion_limit_is_redacted():
    redacted = orjson.loads(without_keys(_nested(250)))
    for _ in range(250):
        redacted = redacted["next"]
    assert redacted == {"app_s_key": REDACTED}


@pytest.mark.parametrize("levels", [900, 2000], ids=["too deep to write", "too deep to read"])
def test_a_message_too_deep_to_redact_is_withheld(levels: int):
    kept = without_keys(_nested(levels))
    assert b"00" not in kept and "withheld" in orjson.loads(kept)


def test_a_key_field_spelt_with_json_escapes_is_redacted():
    raw = b'{"uplink_message": {"app\\u005fs_key": {"key": "2B7E1516"}, "f_cnt": 5}}'
    assert orjson.loads(raw)["uplink_message"]["app_s_key"] == {"key": "2B7E1516"}
    assert orjson.loads(without_keys(raw)) == {"uplink_message": {"app_s_key": REDACTED,
                                                                  "f_cnt": 5}}
    assert without_keys(b'{"app\\u005fs_key": "2B7E1516"') == without_keys(b'{"app_s_key": 1')


def test_escapes_alone_do_not_change_a_message():
    raw = b'{"name": "Sm\\u00f8rbukk", "note": "\\u005c"}'
    assert without_keys(raw) is raw
