"""A buffered synchronous FIFO whose ready flags are flip-flops, and a stream register.

It behaves clock for clock as Amaranth's ``SyncFIFOBuffered`` (a RAM FIFO behind one output
register): the same ``w_rdy``, ``r_rdy``, ``r_data`` and ``level`` on every clock. Why another
one: that FIFO compares its occupancy count with 0 and with its depth on every clock, and on
the iCE40 UP5K those comparisons, feeding the read and write decisions of the core's spike
FIFO, were the critical path. Here "the RAM holds a word" and "the RAM is full" are
registered, from the count of the clock before, so the decisions start at flip-flops.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import FIFOInterface
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


def _incr(value: Signal, modulo: int):
    return Mux(value == modulo - 1, 0, value + 1)


class FlagFIFO(Elaboratable, FIFOInterface):
    """``width`` bits, ``depth`` >= 2 words (one of them in the output register)."""

    def __init__(self, *, width: int, depth: int):
        if depth < 2:
            raise ValueError(f"FlagFIFO needs a depth of at least 2, not {depth}")
        super().__init__(width=width, depth=depth)
        self.level = Signal(range(depth + 1))

    def elaborate(self, platform) -> Module:
        m = Module()
        inner = self.depth - 1
        count = Signal(range(inner + 1))  # words in the RAM
        held = Signal()  # count != 0, registered
        full = Signal()  # count == inner, registered
        do_write = Signal()
        do_read = Signal()  # RAM to output register
        m.d.comb += [self.w_rdy.eq(~full), do_write.eq(self.w_en & ~full),
                     do_read.eq(held & (~self.r_rdy | self.r_en)),
                     self.level.eq(count + self.r_rdy),
                     self.w_level.eq(self.level), self.r_level.eq(self.level)]

        m.submodules.storage = storage = Memory(shape=self.width, depth=inner, init=[])
        w_port, r_port = storage.write_port(), storage.read_port(domain="sync")
        produce = Signal(range(inner))
        consume = Signal(range(inner))
        m.d.comb += [w_port.addr.eq(produce), w_port.data.eq(self.w_data),
                     w_port.en.eq(do_write), r_port.addr.eq(consume), r_port.en.eq(do_read),
                     self.r_data.eq(r_port.data)]
        with m.If(do_write):
            m.d.sync += produce.eq(_incr(produce, inner))
        with m.If(do_read):
            m.d.sync += consume.eq(_incr(consume, inner))
        with m.If(do_write & ~do_read):
            m.d.sync += [count.eq(count + 1), held.eq(1), full.eq(count == inner - 1)]
        with m.If(do_read & ~do_write):
            m.d.sync += [count.eq(count - 1), held.eq(count != 1), full.eq(0)]
        with m.If(do_read):
            m.d.sync += self.r_rdy.eq(1)
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        return m


class SkidBuffer(wiring.Component):
    """A stream through registers both ways: ``o.valid`` and ``i.ready`` are flip-flops, so a
    link that crosses the die (the mesh's ejection, router to core) costs its length twice in
    two clocks instead of once in one. Two words: the output register and a skid register that
    takes the word arriving while the output stalls; one word a clock when nothing stalls.
    ``empty``: neither holds a word."""

    def __init__(self, width: int):
        super().__init__({"i": In(stream.Signature(unsigned(width))),
                          "o": Out(stream.Signature(unsigned(width))), "empty": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        skid_valid = Signal()
        skid = Signal.like(self.i.payload)
        ready = Signal(init=1)  # the skid register is free: ~skid_valid, as a flip-flop
        m.d.comb += [self.i.ready.eq(ready), self.empty.eq(~self.o.valid & ~skid_valid)]
        take = self.i.valid & ready
        with m.If(~self.o.valid | self.o.ready):  # the output register moves
            with m.If(skid_valid):  # (a skid word was taken while the output held one)
                m.d.sync += [self.o.payload.eq(skid), skid_valid.eq(0), ready.eq(1)]
            with m.Else():
                m.d.sync += [self.o.valid.eq(take), self.o.payload.eq(self.i.payload)]
        with m.Elif(take):  # the output stalls: the arriving word waits in the skid register
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1), ready.eq(0)]
        return m
