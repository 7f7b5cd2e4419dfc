"""The host link: a byte protocol that drives a neuron array from a serial line.

:class:`HostBridge` wraps any neuron array with the step interface of docs/hardware.md
(``aer_in``, ``aer_out``, ``start``, ``busy``, ``done``, optionally ``fanout_load``) and turns
bytes into array transactions and spikes into bytes; :class:`HostLink` puts the UART of
:mod:`neuropaste.hdl.uart` on both sides, so a board needs only its two serial pins.
The byte layouts are in docs/hardware.md, "Host link"; ``neuropaste.host`` is the other end.

Why the protocol looks the way it does:

- a spike is the common frame, so it is the shortest: bit 7 of a frame's first byte is 0 for
  an address frame (EVENT in, SPIKE out) and carries the address's low 7 bits, so a map of up
  to 128 neurons needs one byte per spike and up to 32,768 neurons two;
- time is not in the frames (as in the AER packets): step ``t``'s events are the EVENT frames
  between the STEP commands, and the board closes every step with a DONE frame;
- a serial line cannot be paused, so received bytes wait in a FIFO while the array runs a step;
  the host keeps at most the FIFO's depth (reported by IDENT) of bytes in flight past the
  oldest STEP it has no DONE for, and no byte is ever dropped. The DONE and IDENT frames carry
  sticky error flags (framing error, overrun, unknown command) so a host that breaks the rule,
  or a noisy line, is noticed, never silently wrong.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from neuropaste.hdl.fifo import FlagFIFO
from neuropaste.hdl.onehot import StateMachine
from neuropaste.hdl.uart import UARTReceiver, UARTTransmitter
from neuropaste.protocol import (
    DONE_BYTES,
    IDENT_BYTES,
    PROTOCOL_VERSION,
    Op,
    Reply,
    address_extra_bytes,
    nbytes,
)


def array_neurons(array) -> int:
    """Neuron count of an array: its ``n_neurons``, a LIFCore's geometry, a NeuronMesh's plan,
    or else the whole address space."""
    n = getattr(array, "n_neurons", None)
    if n is None and hasattr(array, "geometry"):  # LIFCore
        n = array.geometry.n
    if n is None and hasattr(array, "plan"):  # NeuronMesh
        n = array.plan.n_neurons
    if n is None:
        n = 1 << len(array.aer_in.payload)
    return int(n)


class HostBridge(wiring.Component):
    """Byte stream in (``rx``), byte stream out (``tx``), and the neuron array inside.

    ``frame_error`` and ``overrun`` take the receiver's error pulses so the host hears of them.
    ``design_id`` (32 bits, e.g. the first 8 hex digits of ``Network.digest()``) is echoed by
    IDENT so a host can tell that the board holds the design it compiled. ``retimed``
    (default): a flip-flop per state (:mod:`neuropaste.hdl.onehot`) and a receive FIFO with
    registered flags (:mod:`neuropaste.hdl.fifo`); False: the binary state register and
    Amaranth's FIFO of the earlier design.
    """

    def __init__(self, array: wiring.Component, *, n_neurons: int | None = None,
                 design_id: int = 0, rx_depth: int = 256, retimed: bool = True):
        self.array = array
        self.a_bits = len(array.aer_in.payload)
        self.n_neurons = array_neurons(array) if n_neurons is None else int(n_neurons)
        self.design_id = int(design_id) & 0xFFFF_FFFF
        self.rx_depth = int(rx_depth)
        self.retimed = retimed
        self.loadable = hasattr(array, "fanout_load")
        if self.loadable:
            self.load_addr_bits = len(array.fanout_load.payload.addr)
            self.load_data_bits = len(array.fanout_load.payload.data)
        else:
            self.load_addr_bits = self.load_data_bits = 0
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "frame_error": In(1),
            "overrun": In(1),
        })

    def ident_bytes(self, status: int = 0) -> bytes:
        """The IDENT frame this bridge sends (the host parses the same layout)."""
        return bytes([
            Reply.IDENT, PROTOCOL_VERSION, self.a_bits,
            *self.n_neurons.to_bytes(4, "little"),
            int(self.loadable), self.load_addr_bits, self.load_data_bits,
            *self.rx_depth.to_bytes(2, "little"),
            *self.design_id.to_bytes(4, "little"), status,
        ])

    def elaborate(self, platform) -> Module:
        m = Module()
        array = self.array
        a_bits = self.a_bits
        xa = address_extra_bytes(a_bits)
        la, lw = (nbytes(self.load_addr_bits), nbytes(self.load_data_bits)) if self.loadable \
            else (0, 0)

        array_rst = Signal()  # RESET seen at the head of the receive FIFO
        array_rst_q = Signal()  # ... applied a clock later, from a register: the reset net
        m.d.sync += array_rst_q.eq(array_rst)  # reaches every flip-flop of the array
        m.submodules.array = ResetInserter({"sync": array_rst_q})(array)
        # the array was idle last clock and neither a start nor a reset has reached it since:
        # it is idle now (only those two leave IDLE), and the test is a flip-flop
        array_idle = Signal()
        m.d.sync += array_idle.eq(~array.busy & ~array.start & ~array_rst_q)
        fifo = FlagFIFO if self.retimed else SyncFIFOBuffered  # the same, flags registered
        m.submodules.rxq = rxq = fifo(width=8, depth=self.rx_depth)
        wiring.connect(m, wiring.flipped(self.rx), rxq.w_stream)
        # the head byte in a register of its own: commands decode from flip-flops, not from
        # the FIFO's RAM output, whose routing would otherwise set the clock
        byte = Signal(8)
        ready = Signal()  # a byte waits in ``byte``
        take = Signal()  # consume it
        # ... and which command it is, decoded from that register (decoding the FIFO's output
        # as it is loaded put the RAM's clock-to-output in front of the comparison: the
        # ECP5's critical path)
        op = {o: Signal(name=f"op_{o.name.lower()}") for o in Op}
        head = rxq
        if self.retimed:
            # two bytes in flip-flops between the FIFO and ``byte``, refilled whenever one has
            # room: the receive FIFO's read then waits on a flag of its own, not on the
            # command decision (state, take, read enable, count and flags: five LUT levels
            # across the UP5K, which missed 50 MHz on some placement seeds)
            m.submodules.rx_head = head = SyncFIFO(width=8, depth=2)
            m.d.comb += [head.w_data.eq(rxq.r_data), head.w_en.eq(rxq.r_rdy),
                         rxq.r_en.eq(head.w_rdy)]
        m.d.comb += head.r_en.eq(~ready | take)
        with m.If(head.r_en & head.r_rdy):
            m.d.sync += [byte.eq(head.r_data), ready.eq(1)]
        with m.Elif(take):
            m.d.sync += ready.eq(0)
        m.d.comb += [op[o].eq(byte == int(o)) for o in Op]
        got = Signal()
        m.d.comb += got.eq(take & ready)

        # sticky status, reported and cleared by DONE and IDENT
        status = Signal(3)
        report = Signal()
        with m.If(report):
            m.d.sync += status.eq(0)
        with m.If(self.frame_error):
            m.d.sync += status[0].eq(1)
        with m.If(self.overrun):
            m.d.sync += status[1].eq(1)
        bad = Signal()
        # retimed: set a clock later, from a flip-flop (the byte's decode, the state and the
        # report were five LUT levels on the UP5K). A report reads ``status`` at the earliest
        # two clocks after the bad byte (the next command byte must load and decode first)
        bad_q = Signal()
        if self.retimed:
            m.d.sync += bad_q.eq(bad)
        else:
            m.d.comb += bad_q.eq(bad)
        with m.If(bad_q):
            m.d.sync += status[2].eq(1)

        # multi-byte fields: shifted in at the top, so after k bytes the first is at 8·(R−k)
        r_bytes = max(xa, la + lw, 1)
        field = Signal(8 * r_bytes)
        count = Signal(range(r_bytes + 1))
        with m.If(got):
            m.d.sync += field.eq(Cat(field[8:], byte))
        addr_lo = Signal(7)
        event_addr = Cat(addr_lo, field[8 * (r_bytes - xa):])[:a_bits]

        # outgoing frames: a byte shift register, the first byte in the low bits
        obuf = Signal(8 * IDENT_BYTES)
        olen = Signal(IDENT_BYTES)  # one bit a byte still to send, shifted with obuf: whether
        m.d.comb += [self.tx.payload.eq(obuf[:8]), self.tx.valid.eq(olen[0])]  # one waits is
        # then a flip-flop, not a count compared with zero
        with m.If(self.tx.valid & self.tx.ready):
            m.d.sync += [obuf.eq(obuf[8:]), olen.eq(olen[1:])]
        free = Signal()
        m.d.comb += free.eq(~olen[0])

        spike_lo = Signal(7)  # zero-extended, so the frame's bit 7 is 0 for any a_bits
        m.d.comb += spike_lo.eq(array.aer_out.payload[:7])
        step = Signal(16)
        done_seen = Signal()
        with m.If(array.done):
            m.d.sync += done_seen.eq(1)

        ident = self.ident_bytes()
        ident_word = Cat(*[Const(b, 8) for b in ident[:-1]], status)

        states = ["CMD", "EVENT_BYTES", "EVENT", "STEP", "RUN", "PING"]
        states += ["LOAD_BYTES", "LOAD"] if self.loadable else []
        fsm = StateMachine(m, states, "CMD", one_hot=self.retimed)
        with m.If(fsm["CMD"]):
            m.d.comb += take.eq(1)
            with m.If(ready):
                with m.If(~byte[7]):  # EVENT
                    m.d.sync += [addr_lo.eq(byte[:7]), count.eq(xa)]
                    fsm.goto("CMD", "EVENT_BYTES" if xa else "EVENT")
                with m.Elif(op[Op.STEP]):
                    fsm.goto("CMD", "STEP")
                with m.Elif(op[Op.PING]):
                    fsm.goto("CMD", "PING")
                if self.loadable:
                    with m.Elif(op[Op.LOAD]):
                        m.d.sync += count.eq(la + lw)
                        fsm.goto("CMD", "LOAD_BYTES")
                with m.Elif(op[Op.RESET]):
                    m.d.comb += array_rst.eq(1)
                    m.d.sync += step.eq(0)
                with m.Else():
                    m.d.comb += bad.eq(1)
        def collect(state: str, then: str) -> None:
            """In ``state``, take the frame's remaining bytes, then go to ``then``."""
            with m.If(fsm[state]):
                m.d.comb += take.eq(1)
                with m.If(ready):
                    m.d.sync += count.eq(count - 1)
                    with m.If(count == 1):
                        fsm.goto(state, then)

        collect("EVENT_BYTES", "EVENT")
        with m.If(fsm["EVENT"]):  # an idle array takes input events (docs/hardware.md,
            # Ports), so the registered idle test stands for ``ready``
            m.d.comb += [array.aer_in.valid.eq(array_idle),
                         array.aer_in.payload.eq(event_addr)]
            with m.If(array_idle):
                fsm.goto("EVENT", "CMD")
        with m.If(fsm["STEP"]):
            with m.If(array_idle):
                m.d.comb += array.start.eq(1)
                m.d.sync += done_seen.eq(0)
                fsm.goto("STEP", "RUN")
        with m.If(fsm["RUN"]):  # frame the step's spikes, then DONE
            with m.If(free):
                with m.If(array.aer_out.valid):
                    m.d.comb += array.aer_out.ready.eq(1)
                    m.d.sync += [obuf.eq(Cat(spike_lo, Const(0, 1),
                                             array.aer_out.payload[7:])),
                                 olen.eq((1 << (1 + xa)) - 1)]
                with m.Elif(done_seen):
                    m.d.comb += report.eq(1)
                    m.d.sync += [obuf.eq(Cat(Const(int(Reply.DONE), 8), step, status)),
                                 olen.eq((1 << DONE_BYTES) - 1), step.eq(step + 1)]
                    fsm.goto("RUN", "CMD")
        with m.If(fsm["PING"]):  # answers once the array is idle (after reset: cleared)
            with m.If(free & array_idle):
                m.d.comb += report.eq(1)
                m.d.sync += [obuf.eq(ident_word), olen.eq((1 << IDENT_BYTES) - 1)]
                fsm.goto("PING", "CMD")
        if self.loadable:
            load = array.fanout_load
            base = 8 * (r_bytes - la - lw)
            collect("LOAD_BYTES", "LOAD")
            with m.If(fsm["LOAD"]):
                m.d.comb += [
                    load.valid.eq(1),
                    load.payload.addr.eq(field[base:base + self.load_addr_bits]),
                    load.payload.data.eq(
                        field[base + 8 * la:base + 8 * la + self.load_data_bits]),
                ]
                with m.If(load.ready):
                    fsm.goto("LOAD", "CMD")
        return m


class HostLink(wiring.Component):
    """UART receiver → :class:`HostBridge` (with the array) → UART transmitter: a board top.

    Ports ``rx_pin`` (from the host's TX) and ``tx_pin`` (to the host's RX); ``divisor`` is
    ``clk_hz // baud`` (:func:`neuropaste.hdl.uart.uart_divisor` checks the rounding).
    """

    def __init__(self, array: wiring.Component, divisor: int, **bridge_options):
        self.bridge = HostBridge(array, **bridge_options)
        self.divisor = divisor
        super().__init__({"rx_pin": In(1, init=1), "tx_pin": Out(1, init=1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.uart_rx = urx = UARTReceiver(self.divisor)
        m.submodules.uart_tx = utx = UARTTransmitter(self.divisor)
        m.submodules.bridge = bridge = self.bridge
        m.d.comb += [urx.pin.eq(self.rx_pin), self.tx_pin.eq(utx.pin),
                     bridge.frame_error.eq(urx.frame_error), bridge.overrun.eq(urx.overrun)]
        wiring.connect(m, urx.rx, bridge.rx)
        wiring.connect(m, bridge.tx, utx.tx)
        return m
