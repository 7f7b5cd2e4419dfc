"""The host link's byte protocol: frame codes, flags and sizes, shared by both ends.

The board end (``hdl/bridge.py``, Amaranth) and the host end (``neuropaste.host``, pyserial)
both read these, so the host needs no gateware to speak to a board. The frame layouts are in
docs/hardware.md, "Host link".
"""

from __future__ import annotations

import enum

PROTOCOL_VERSION = 1
DEFAULT_BAUD = 1_000_000  # an integer number of clocks per bit at 12 MHz and 25 MHz


class Op(enum.IntEnum):
    """First byte of a host→board command frame (an EVENT frame has bit 7 clear instead)."""

    STEP = 0x80
    PING = 0x81
    LOAD = 0x82
    RESET = 0x83


class Reply(enum.IntEnum):
    """First byte of a board→host frame (a SPIKE frame has bit 7 clear instead)."""

    DONE = 0x80
    IDENT = 0x81


class Status(enum.IntFlag):
    """Sticky error flags, reported (then cleared) in every DONE and IDENT frame."""

    FRAME_ERROR = 1  # a byte with a low stop bit was dropped
    OVERRUN = 2  # a byte arrived with the receive FIFO full and was dropped
    BAD_COMMAND = 4  # an unknown command byte (or LOAD on an array without a loadable table)


def address_extra_bytes(a_bits: int) -> int:
    """Bytes after the first one in an EVENT or SPIKE frame (the first carries 7 bits)."""
    return max(0, -(-(a_bits - 7) // 8))


def nbytes(bits: int) -> int:
    return max(1, -(-bits // 8))


IDENT_BYTES = 17
DONE_BYTES = 4


def core_bits(n_cores: int) -> int:
    """Width of the core field of a mesh's LOAD address (0 for one core)."""
    return 0 if n_cores <= 1 else (n_cores - 1).bit_length()


def load_address(core: int, entry: int, entry_bits: int) -> int:
    """A LOAD frame's table address: entry ``entry`` of core ``core``'s fan-out table, the
    entry in the low ``entry_bits`` bits and the core above (``hdl/mesh.py``)."""
    return (core << entry_bits) | entry

