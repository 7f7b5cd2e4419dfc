"""Run a neuron array on a board from Python: the host end of the UART link (pyserial).

The board side is :class:`neuropaste.hdl.bridge.HostLink`; the frames are documented in
docs/hardware.md, "Host link". Typical use::

    with Board("/dev/ttyUSB1") as board:
        board.load("build/celegans")            # checks the design, uploads tables if loadable
        raster = board.run(board.stimulus(), 1000)

:meth:`Board.run` keeps the line busy in both directions: it sends later steps' events while
earlier steps' spikes come back, as far as the board's receive FIFO allows (its depth comes in
the IDENT frame), so the run is limited by the serial rate, not by round trips.
"""

from __future__ import annotations

import csv
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import serial

from neuropaste.compiled import ADDRESS_MAP, RTL_MEM, Compiled
from neuropaste.events import Raster, Stimulus
from neuropaste.ir import Network
from neuropaste.protocol import (
    DEFAULT_BAUD,
    DONE_BYTES,
    IDENT_BYTES,
    PROTOCOL_VERSION,
    Op,
    Reply,
    Status,
    address_extra_bytes,
    core_bits,
    load_address,
    nbytes,
)


class LinkError(RuntimeError):
    """The board did not answer, answered something else, or reported a lost byte."""


@dataclass(frozen=True)
class BoardInfo:
    """What the IDENT frame says about the design on the board."""

    version: int
    a_bits: int
    n_neurons: int
    loadable: bool
    load_addr_bits: int
    load_data_bits: int
    rx_depth: int
    design_id: int
    status: int

    @classmethod
    def parse(cls, frame: bytes) -> BoardInfo:
        if len(frame) != IDENT_BYTES or frame[0] != Reply.IDENT:
            raise LinkError(f"not an IDENT frame: {frame.hex(' ')}")
        return cls(version=frame[1], a_bits=frame[2],
                   n_neurons=int.from_bytes(frame[3:7], "little"), loadable=bool(frame[7]),
                   load_addr_bits=frame[8], load_data_bits=frame[9],
                   rx_depth=int.from_bytes(frame[10:12], "little"),
                   design_id=int.from_bytes(frame[12:16], "little"), status=frame[16])


def design_id(net: Network) -> int:
    """The 32-bit design identifier a bridge built for ``net`` reports: its digest's head."""
    return int(net.digest()[:8], 16)


def read_hex_image(path: str | os.PathLike) -> list[int]:
    """Words of a ``$readmemh``-style image (one hex word a line, as ``rtl/mem/*.hex``)."""
    words = []
    for line in Path(path).read_text().splitlines():
        text = line.split("//")[0].strip()
        if text:
            words.append(int(text, 16))
    return words


def read_address_map(path: str | os.PathLike, n_neurons: int) -> np.ndarray:
    """``rtl/address_map.csv`` (``address,index,label``) as index → hardware address."""
    to_hw = np.full(n_neurons, -1, np.int64)
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            index = int(row["index"])
            if not 0 <= index < n_neurons:
                raise LinkError(f"{path}: index {index} outside the network's {n_neurons}")
            to_hw[index] = int(row["address"])
    if (to_hw < 0).any():
        missing = int(np.flatnonzero(to_hw < 0)[0])
        raise LinkError(f"{path}: neuron index {missing} has no hardware address")
    return to_hw


def recorded_baud(cd: Compiled, board: str | None = None) -> int | None:
    """The baud rate the FPGA build of ``board`` (or the directory's only build) was made
    for; None when there is no build to ask."""
    builds = {name: b for name, b in cd.fpga_builds().items() if "baud" in b}
    if board is not None:
        if board not in builds:
            raise LinkError(f"{cd.root} has no FPGA build for {board!r} recording a baud rate "
                            f"(builds: {', '.join(builds) or 'none'})")
        return int(builds[board]["baud"])
    rates = {int(b["baud"]) for b in builds.values()}
    if len(rates) > 1:
        raise LinkError(f"{cd.root} has FPGA builds at {sorted(rates)} baud "
                        f"({', '.join(builds)}): pass board= or baud=")
    return rates.pop() if rates else None


def _status_text(status: int) -> str:
    return ", ".join(flag.name.lower().replace("_", " ") for flag in Status
                     if status & flag) or "none"


class Board:
    """A neuron array behind a serial port, driven step by step.

    ``port`` is an open :class:`serial.Serial` (its timeout is replaced by ``timeout``) or a
    device name to open at ``baud``. Without ``baud``, :meth:`load` switches the line to the
    rate the compiled directory's FPGA build recorded (``fpga/<board>/fpga.json``), and the
    port opens at :data:`DEFAULT_BAUD`, the FPGA flow's default. ``timeout`` is how long the
    board may stay silent while a reply is due before :class:`LinkError` is raised.
    """

    def __init__(self, port: serial.Serial | str, baud: int | None = None,
                 timeout: float = 2.0):
        if isinstance(port, str):
            self.serial = serial.Serial(port, baudrate=baud or DEFAULT_BAUD, timeout=timeout)
            self._owned = True
        else:
            self.serial = port
            self.serial.timeout = timeout
            self._owned = False
        self.baud_given = baud is not None or not isinstance(port, str)
        self.timeout = timeout
        self.info: BoardInfo | None = None
        self.network: Network | None = None
        self.compiled: Compiled | None = None
        self.to_hw: np.ndarray | None = None  # network index → hardware address
        self._from_hw: dict[int, int] | None = None
        self._buf = bytearray()
        self._next_step: int | None = None  # the board's step counter, once known

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        if self._owned:
            self.serial.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self, n: int, waiting_for: str) -> bytes:
        while len(self._buf) < n:
            chunk = self.serial.read(max(n - len(self._buf), self.serial.in_waiting))
            if not chunk:
                raise LinkError(f"no reply from the board on {self.serial.port} for "
                                f"{self.timeout:g} s while waiting for {waiting_for} "
                                f"({len(self._buf)} of {n} bytes of a frame received)")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _info(self) -> BoardInfo:
        return self.info if self.info is not None else self.identify()

    # ------------------------------------------------------------------ commands
    def identify(self) -> BoardInfo:
        """PING; the IDENT reply (sent once the array is idle) describes the design."""
        self.serial.reset_input_buffer()
        self._buf.clear()
        self.serial.write(bytes([Op.PING]))
        frame = self._read(IDENT_BYTES, "the IDENT reply to PING")
        if frame[0] != Reply.IDENT:
            raise LinkError(f"expected an IDENT frame, got {frame.hex(' ')}: is a step still "
                            "running, or is this not a neuropaste host link?")
        info = BoardInfo.parse(frame)
        if info.version != PROTOCOL_VERSION:
            raise LinkError(f"board speaks host-link protocol {info.version}, "
                            f"this driver {PROTOCOL_VERSION}")
        self._check_status(info.status, "IDENT")
        self.info = info
        return info

    def reset(self) -> BoardInfo:
        """RESET the array (membranes, accumulators and step counter; loaded tables stay),
        then wait for it to finish clearing."""
        self.serial.write(bytes([Op.RESET]))
        info = self.identify()
        self._next_step = 0
        return info

    def load(self, compiled: str | os.PathLike, board: str | None = None) -> BoardInfo:
        """Attach a compiled directory: take the baud rate its FPGA build recorded (of
        ``board``, or of its only build) unless one was given, check the board holds its
        design, map labels to addresses (``rtl/address_map.csv`` when present), upload the
        fan-out table if the array is loadable (``rtl/mem/fanout.hex``)."""
        cd = Compiled.open(compiled)
        net = cd.network()
        if not self.baud_given:
            rate = recorded_baud(cd, board)
            if rate is not None and rate != self.serial.baudrate:
                self.serial.baudrate = rate
        info = self.identify()
        if info.design_id and info.design_id != design_id(net):
            raise LinkError(f"the board holds design {info.design_id:08x}, {compiled} is "
                            f"{design_id(net):08x}: rebuild the bitstream or pick the "
                            "matching directory")
        amap = cd.path(ADDRESS_MAP)
        to_hw = read_address_map(amap, net.n_neurons) if amap.exists() \
            else np.arange(net.n_neurons, dtype=np.int64)
        if net.n_neurons and int(to_hw.max()) >= 1 << info.a_bits:
            raise LinkError(f"{compiled} needs address {int(to_hw.max())}, the board's "
                            f"addresses have {info.a_bits} bits")
        self.network, self.compiled = net, cd
        self.set_address_map(to_hw)
        if info.loadable:
            self.upload(self._table_words(cd, info))
        return info

    @staticmethod
    def _table_words(cd: Compiled, info: BoardInfo) -> list[tuple[int, int]]:
        """Every (LOAD address, word) of the compiled fan-out tables: ``rtl/mem/fanout.hex``
        of one core, or ``rtl/mem/core_K/fanout.hex`` of each mesh core, addressed core |
        entry (:func:`neuropaste.protocol.load_address`)."""
        placement = cd.placement()
        cores = 1 if placement is None else placement.n_cores
        entry_bits = info.load_addr_bits - core_bits(cores)
        words = []
        for c in range(cores):
            image = cd.path(RTL_MEM) / ("fanout.hex" if placement is None
                                        else f"core_{c}/fanout.hex")
            if not image.exists():
                raise LinkError(f"the board's fan-out table is loadable but {image} is missing")
            words += [(load_address(c, i, entry_bits), w)
                      for i, w in enumerate(read_hex_image(image))]
        return words

    def set_address_map(self, to_hw: Iterable[int]) -> None:
        """Network index → hardware address (identity unless the array is multi-core)."""
        self.to_hw = np.asarray(list(to_hw), np.int64)
        self._from_hw = {int(a): i for i, a in enumerate(self.to_hw.tolist())}
        if len(self._from_hw) != len(self.to_hw):
            raise LinkError("two neurons share one hardware address")

    def stimulus(self) -> Stimulus:
        """The compiled directory's ``stimulus.csv`` (after :meth:`load`)."""
        if self.network is None or self.compiled is None:
            raise LinkError("no compiled directory loaded: call load(DIR) first")
        return self.compiled.stimulus(self.network.labels)

    def upload(self, words: Iterable[tuple[int, int]]) -> int:
        """LOAD each ``(address, word)`` into the array's fan-out table; returns the count.

        The array takes one word per clock while idle, far faster than the line delivers
        them, so the words stream without pacing; a PING at the end confirms every byte
        arrived (the IDENT status would report a lost one).
        """
        info = self._info()
        if not info.loadable:
            raise LinkError("this board's array has no loadable fan-out table")
        la, lw = nbytes(info.load_addr_bits), nbytes(info.load_data_bits)
        out = bytearray()
        count = 0
        for addr, word in words:
            if not 0 <= addr < 1 << info.load_addr_bits:
                raise LinkError(f"table address {addr} needs more than "
                                f"{info.load_addr_bits} bits")
            if not 0 <= word < 1 << info.load_data_bits:
                raise LinkError(f"table word {word:#x} at {addr} needs more than "
                                f"{info.load_data_bits} bits")
            out += bytes([Op.LOAD]) + addr.to_bytes(la, "little") + word.to_bytes(lw, "little")
            count += 1
            if len(out) >= 4096:
                self.serial.write(out)
                out.clear()
        self.serial.write(out)
        self.identify()
        return count

    # ------------------------------------------------------------------ steps
    def _events(self, neurons: Iterable[int]) -> bytes:
        """EVENT frames for network indices ``neurons`` (mapped to hardware addresses)."""
        info = self._info()
        xa = address_extra_bytes(info.a_bits)
        out = bytearray()
        for j in neurons:
            a = int(j) if self.to_hw is None else int(self.to_hw[int(j)])
            if not 0 <= a < 1 << info.a_bits:
                raise LinkError(f"event for address {a}: the board has {info.a_bits} "
                                "address bits")
            out.append(a & 0x7F)
            out += (a >> 7).to_bytes(xa, "little")
        return bytes(out)

    def _collect(self, waiting: str) -> list[int]:
        """Read SPIKE frames up to the DONE frame; return network indices, sorted."""
        info = self._info()
        xa = address_extra_bytes(info.a_bits)
        spikes = []
        while True:
            head = self._read(1, waiting)[0]
            if head & 0x80 == 0:
                rest = self._read(xa, waiting) if xa else b""
                a = (head & 0x7F) | int.from_bytes(rest, "little") << 7
                if self._from_hw is None:
                    spikes.append(a)
                elif a in self._from_hw:
                    spikes.append(self._from_hw[a])
                else:
                    raise LinkError(f"spike from hardware address {a}, which no neuron has")
            elif head == Reply.DONE:
                rest = self._read(DONE_BYTES - 1, waiting)
                step = int.from_bytes(rest[:2], "little")
                self._check_status(rest[2], f"DONE of {waiting}")
                if self._next_step is not None and step != self._next_step & 0xFFFF:
                    raise LinkError(f"the board finished its step {step}, expected "
                                    f"{self._next_step & 0xFFFF}")
                self._next_step = (self._next_step if self._next_step is not None
                                   else step) + 1
                return sorted(spikes)
            else:
                raise LinkError(f"unexpected frame byte {head:#04x} while waiting for "
                                f"{waiting}")

    def _check_status(self, status: int, where: str) -> None:
        if status:
            raise LinkError(f"the board reports {_status_text(status)} (in {where}): bytes "
                            "were lost or garbled on the line; reset() and resend")

    def step(self, events: Iterable[int] = ()) -> list[int]:
        """One step: the external events (network indices) in, the indices that spiked out."""
        self.serial.write(self._events(events) + bytes([Op.STEP]))
        return self._collect("the end of a step")

    def run(self, stimulus: Stimulus | None, steps: int, *, reset: bool = True) -> Raster:
        """Run ``steps`` steps of ``stimulus`` (network indices); from a reset state unless
        ``reset=False``. Steps are sent ahead while the board's receive FIFO has room."""
        info = self.reset() if reset else self._info()
        stimulus = stimulus if stimulus is not None else Stimulus.empty()
        order = np.argsort(stimulus.step, kind="stable")
        s_step, s_neuron = stimulus.step[order], stimulus.neuron[order]
        bounds = np.searchsorted(s_step, np.arange(steps + 1))
        frames = [self._events(s_neuron[bounds[t]:bounds[t + 1]].tolist()) + bytes([Op.STEP])
                  for t in range(steps)]
        # bytes sent after the STEP byte of the oldest step without a DONE wait in the
        # board's FIFO while that step runs: keep them within its depth
        pending: deque[int] = deque()  # stream position just after each outstanding STEP
        sent = 0
        out_step: list[np.ndarray] = []
        out_neuron: list[np.ndarray] = []
        t_sent = 0
        for t in range(steps):
            while t_sent < steps and (not pending
                                      or sent + len(frames[t_sent]) - pending[0]
                                      <= info.rx_depth):
                self.serial.write(frames[t_sent])
                sent += len(frames[t_sent])
                pending.append(sent)
                t_sent += 1
            spikes = self._collect(f"the end of step {t}")
            pending.popleft()
            out_step.append(np.full(len(spikes), t, np.int64))
            out_neuron.append(np.asarray(spikes, np.int64))
        n = self.network.n_neurons if self.network is not None else info.n_neurons
        step = np.concatenate(out_step) if out_step else np.zeros(0, np.int64)
        neuron = np.concatenate(out_neuron) if out_neuron else np.zeros(0, np.int64)
        return Raster(step=step, neuron=neuron, steps=steps, n_neurons=n)
