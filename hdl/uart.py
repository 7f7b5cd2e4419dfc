"""A UART (8N1) receiver and transmitter with ``lib.stream`` byte interfaces.

Amaranth's own library has no UART, and ``amaranth-stdio`` (which has one) is only a name
placeholder on PyPI, so the host link carries its own: two small components, one bit period of
``divisor`` clocks (``clk_hz // baud``, at least 4 so the receiver can find the middle of a bit).

- :class:`UARTReceiver`: the line goes through a two-flop synchroniser (it is asynchronous to
  the clock), a start bit is confirmed half a bit after its falling edge (a glitch shorter than
  that is ignored), and every data bit and the stop bit are sampled in their middle. A low stop
  bit is a framing error: the byte is dropped, ``frame_error`` pulses, and the receiver waits for
  the line to go high before it looks for the next start bit (so a held-low line, a "break",
  gives one error and not a stream of zero bytes). A serial line cannot be paused, so a byte
  that completes while the previous one is still waiting for ``ready`` is dropped and
  ``overrun`` pulses; put a FIFO behind the receiver when the consumer can stall.
- :class:`UARTTransmitter`: takes a byte when idle and shifts out start bit, 8 data bits (least
  significant first) and stop bit; ``ready`` is low while a frame is on the line.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


def uart_divisor(clk_hz: float, baud: float) -> int:
    """Clocks per bit for ``baud`` at ``clk_hz``; refuses rates the receiver cannot sample.

    The bit period is rounded to the nearest clock; more than 2 % off the nominal baud rate
    (half a bit over a 10-bit frame is 5 %, shared by both ends) is refused.
    """
    divisor = round(clk_hz / baud)
    if divisor < 4:
        raise ValueError(f"{clk_hz:g} Hz is too slow for {baud:g} baud (need 4 clocks per bit)")
    error = abs(clk_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"{clk_hz:g} Hz / {divisor} = {clk_hz / divisor:.0f} baud, "
                         f"{100 * error:.1f} % off {baud:g}")
    return divisor


def _check_divisor(divisor: int) -> int:
    if int(divisor) != divisor or divisor < 4:
        raise ValueError(f"divisor must be an integer >= 4 clocks per bit, got {divisor}")
    return int(divisor)


class UARTReceiver(wiring.Component):
    """Serial line in, bytes out (8N1). Ports: ``pin`` (the line), ``rx`` (byte stream),
    ``frame_error`` and ``overrun`` (one-clock pulses, for error counters)."""

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "pin": In(1, init=1),
            "rx": Out(stream.Signature(8)),
            "frame_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        div = self.divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.pin, line, init=1)

        timer = Signal(range(div))
        bit = Signal(range(9))
        shift = Signal(8)
        data = Signal(8)
        valid = Signal()
        m.d.comb += [self.rx.payload.eq(data), self.rx.valid.eq(valid)]
        with m.If(self.rx.ready):
            m.d.sync += valid.eq(0)

        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):  # middle of the start bit: still low, or it was a glitch
                with m.If(timer == 0):
                    with m.If(line):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(div - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), timer.eq(div - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        with m.If(valid & ~self.rx.ready):
                            m.d.comb += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [data.eq(shift), valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.frame_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):  # wait for the idle level before hunting for a start bit
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """Bytes in, serial line out (8N1). Ports: ``tx`` (byte stream), ``pin`` (the line, high
    when idle)."""

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "tx": In(stream.Signature(8)),
            "pin": Out(1, init=1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        div = self.divisor
        frame = Signal(10, init=0x3FF)  # stop | data | start, shifted out from bit 0
        left = Signal(range(11))  # bits still to send
        timer = Signal(range(div))
        m.d.comb += [self.pin.eq(frame[0]), self.tx.ready.eq(left == 0)]
        with m.If(left == 0):
            with m.If(self.tx.valid):
                m.d.sync += [frame.eq(Cat(0, self.tx.payload, 1)), left.eq(10),
                             timer.eq(div - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [frame.eq(Cat(frame[1:], 1)), left.eq(left - 1), timer.eq(div - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
