"""The board top: the platform's clock drives a neuron array, reached through the board's UART.

:class:`BoardTop` is what ``neuropaste fpga`` hands to an ``amaranth-boards`` platform. It
takes any array with the step interface of docs/hardware.md (``aer_in``, ``aer_out``, ``start``,
``busy``, ``done``, optionally ``fanout_load``) and wraps it in one of two links:

- ``uart``: :class:`neuropaste.hdl.bridge.HostLink` on the board's ``uart`` resource, so a host
  (``neuropaste.host``) streams stimulus in and spikes out, and uploads a loadable fan-out table;
- ``demo``: no host at all. A pseudo-random generator sends a few input events per step, steps
  run back to back, every spike toggles LED 0 and the step counter blinks LED 1. It exists so a
  bitstream can be built, measured and seen to run on a board without any host software.

The platform's default clock becomes the ``sync`` domain (Amaranth's own ``create_missing_domain``
with its reset synchroniser), so the array's synchronous reset is the power-on reset.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Signal
from amaranth.lib import io, wiring

from neuropaste.protocol import DEFAULT_BAUD

LINKS = ("uart", "demo")


def bridge_available() -> bool:
    """Whether the host link (``neuropaste.hdl.bridge.HostLink``) is part of this install."""
    try:
        from neuropaste.hdl.bridge import HostLink  # noqa: F401
    except ImportError:
        return False
    return True


class BoardTop(Elaboratable):
    """Platform clock and pins around ``array``; see the module docstring for ``link``."""

    def __init__(self, array: wiring.Component, *, link: str = "uart", baud: int = DEFAULT_BAUD,
                 design_id: int = 0, events_per_step: int = 4, retimed: bool = True):
        if link not in LINKS:
            raise ValueError(f"link must be one of {', '.join(LINKS)}, got {link!r}")
        self.array = array
        self.link = link
        self.baud = int(baud)
        self.design_id = int(design_id)
        self.events_per_step = int(events_per_step)
        self.retimed = retimed  # the host bridge's state machine (HostBridge ``retimed``)

    def elaborate(self, platform) -> Module:
        m = Module()
        if self.link == "uart":
            from neuropaste.hdl.bridge import HostLink
            from neuropaste.hdl.uart import uart_divisor

            divisor = uart_divisor(platform.default_clk_frequency, self.baud)
            m.submodules.link = link = HostLink(self.array, divisor, design_id=self.design_id,
                                                retimed=self.retimed)
            uart = platform.request("uart", 0, dir="-")
            m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
            m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
            m.d.comb += [link.rx_pin.eq(rx.i), tx.o.eq(link.tx_pin)]
            return m
        m.submodules.array = array = self.array
        _demo_driver(m, array, self.events_per_step)
        m.submodules.led_spike = led_spike = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.submodules.led_step = led_step = io.Buffer("o", platform.request("led", 1, dir="-"))
        spike_toggle = Signal()
        with m.If(array.aer_out.valid):
            # parity of the address, so the whole output path stays in the design
            m.d.sync += spike_toggle.eq(spike_toggle ^ ~array.aer_out.payload.xor())
        steps = Signal(13)  # counted here: a mesh has no step_count port
        with m.If(array.done):
            m.d.sync += steps.eq(steps + 1)
        m.d.comb += [array.aer_out.ready.eq(1), led_spike.o.eq(spike_toggle),
                     led_step.o.eq(steps[-1])]
        return m


def _demo_driver(m: Module, array: wiring.Component, events: int) -> None:
    """Send ``events`` pseudo-random addresses, pulse ``start``, wait for ``done``, repeat."""
    a_bits = len(array.aer_in.payload)
    lfsr = Signal(16, init=0xACE1)  # Galois LFSR, x^16 + x^14 + x^13 + x^11 + 1
    m.d.sync += lfsr.eq((lfsr >> 1) ^ (lfsr[0].replicate(16) & 0xB400))
    sent = Signal(range(events + 1))
    with m.FSM():
        with m.State("SEND"):
            m.d.comb += [array.aer_in.valid.eq(sent < events),
                         array.aer_in.payload.eq(lfsr[:a_bits])]
            with m.If(array.aer_in.valid & array.aer_in.ready):
                m.d.sync += sent.eq(sent + 1)
            with m.If((sent == events) & ~array.busy):
                m.d.comb += array.start.eq(1)
                m.next = "RUN"
        with m.State("RUN"):
            with m.If(array.done):
                m.d.sync += sent.eq(0)
                m.next = "SEND"
