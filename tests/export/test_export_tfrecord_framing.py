"""TFRecord framing against an independent CRC-32C, so a wrong checksum fails without TensorFlow."""

from __future__ import annotations

import struct

from terralearn.export.tfrecord import frame, masked_crc32c, read_records


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: reflected polynomial 0x82F63B78."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    """TFRecord's mask: rotate right by 15 bits, add 0xa282ead8 (mod 2**32)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_reference_crc32c_has_the_standard_check_value():
    assert _crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720, B.4)
    assert _crc32c(bytes(32)) == 0x8A9136AA  # 32 zero bytes, RFC 3720 B.4


def test_masked_crc32c_matches_the_tfrecord_definition():
    for data in (b"", b"123456789", bytes(range(256))):
        assert masked_crc32c(data) == _masked(_crc32c(data))
    assert masked_crc32c(b"123456789") == _masked(0xE3069283)


def test_one_framed_record_byte_by_byte(tmp_path):
    record = b"terralearn chip"
    length = struct.pack("<Q", len(record))
    expected = (
        length
        + struct.pack("<I", _masked(_crc32c(length)))
        + record
        + struct.pack("<I", _masked(_crc32c(record)))
    )
    assert frame(record) == expected
    # the same 31 bytes written out: uint64 length 15, its masked CRC, the data, the data's
    assert expected == bytes.fromhex("0f000000000000006d532b09") + record + bytes.fromhex(
        "15b4a05b"
    )
    path = tmp_path / "one.tfrecord"
    path.write_bytes(expected + expected)
    assert list(read_records(path)) == [record, record]
