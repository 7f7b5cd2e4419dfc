"""The host link: UART units, the bridge's byte protocol, and the whole path end to end.

End to end, the pyserial driver (a real ``serial.Serial`` on the slave side of a pty) talks to
``HostLink(LIFCore)`` in Amaranth's simulator: a testbench moves bytes between the pty master
and the UART pins bit by bit, at 4 clocks per bit. The driver's raster must equal the reference
model's, bit for bit.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections import deque

import numpy as np
import pytest
import serial
from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_network
from neuropaste.events import Stimulus, poisson
from neuropaste.generators.quantize import quantize
from neuropaste.hdl.bridge import HostBridge, HostLink
from neuropaste.hdl.core import LIFCore
from neuropaste.hdl.uart import UARTReceiver, UARTTransmitter, uart_divisor
from neuropaste.host import Board, LinkError, design_id, read_hex_image
from neuropaste.io import load_map
from neuropaste.neuron import QuantOptions
from neuropaste.protocol import Op, Reply, Status
from neuropaste.reference import simulate

# ---------------------------------------------------------------------------- helpers


def _frame_levels(byte: int, stop: int = 1) -> list[int]:
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def _line(frames: list[tuple[int, int, int]], period: float) -> list[int]:
    """Line level per clock for (idle bits before, byte, stop level) frames, ``period`` clocks
    per bit (fractional: a sender whose clock is off)."""
    bits = []
    for gap, byte, stop in frames:
        bits += [1] * gap + _frame_levels(byte, stop)
    bits += [1] * 3
    n = int(len(bits) * period)
    return [bits[min(int(c / period), len(bits) - 1)] for c in range(n)]


def _run_rx(divisor: int, levels: list[int], ready=lambda c: 1):
    """Drive a UARTReceiver's pin with ``levels``; return (bytes, frame errors, overruns)."""
    dut = UARTReceiver(divisor)
    got, errors, overruns = [], [], []

    async def bench(ctx):
        for c, level in enumerate(levels):
            ctx.set(dut.pin, level)
            r = ready(c)
            ctx.set(dut.rx.ready, r)
            if r and ctx.get(dut.rx.valid):
                got.append(ctx.get(dut.rx.payload))
            errors.append(ctx.get(dut.frame_error))
            overruns.append(ctx.get(dut.overrun))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, sum(errors), sum(overruns)


def _random_net(n: int = 24, edges: int = 90, seed: int = 0):
    rng = np.random.default_rng(seed)
    pre, post = rng.integers(0, n, edges), rng.integers(0, n, edges)
    weight = rng.choice([-1.0, 1.0], edges) * rng.integers(1, 9, edges)
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], pre, post, weight,
                                 rng.integers(1, 4, edges))
    return quantize(cmap, QuantOptions(threshold_factor=3.0, refractory=1))


class ToyArray(wiring.Component):
    """A stand-in array with a loadable table, for the LOAD path until the lead's core has one.

    Idle: takes events (up to 16) and ``fanout_load`` writes. A step emits ``table[event]``
    for each event in arrival order, then stays busy ``tail`` more clocks before ``done``.
    """

    def __init__(self, a_bits: int, addr_bits: int, data_bits: int, tail: int = 3):
        self.a_bits, self.addr_bits, self.data_bits, self.tail = a_bits, addr_bits, data_bits, tail
        self.n_neurons = 1 << a_bits
        super().__init__({
            "aer_in": In(stream.Signature(unsigned(a_bits))),
            "aer_out": Out(stream.Signature(unsigned(a_bits))),
            "start": In(1), "busy": Out(1), "done": Out(1),
            "fanout_load": In(stream.Signature(data.StructLayout({
                "addr": unsigned(addr_bits), "data": unsigned(data_bits)}))),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.table = table = Memory(shape=unsigned(self.data_bits),
                                            depth=1 << self.addr_bits, init=[])
        wr, rd = table.write_port(), table.read_port(domain="comb")
        m.submodules.evq = evq = SyncFIFOBuffered(width=self.a_bits, depth=16)
        wait = Signal(range(self.tail + 1))
        m.d.comb += [rd.addr.eq(evq.r_data), self.aer_out.payload.eq(rd.data),
                     wr.addr.eq(self.fanout_load.payload.addr),
                     wr.data.eq(self.fanout_load.payload.data),
                     evq.w_data.eq(self.aer_in.payload)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.aer_in.ready.eq(evq.w_rdy), evq.w_en.eq(self.aer_in.valid),
                             self.fanout_load.ready.eq(1), wr.en.eq(self.fanout_load.valid)]
                with m.If(self.start):
                    m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += [self.busy.eq(1), self.aer_out.valid.eq(evq.r_rdy),
                             evq.r_en.eq(self.aer_out.ready)]
                with m.If(~evq.r_rdy):
                    m.d.sync += wait.eq(self.tail)
                    m.next = "TAIL"
            with m.State("TAIL"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 0):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m


def _bridge_bytes(bridge: HostBridge, host: bytes, *, tx_stall: float = 0.0, seed: int = 0,
                  until_done: int = 0, max_clocks: int = 200_000) -> bytes:
    """Feed ``host`` bytes to a bridge's rx stream (no UART), collect its tx bytes with random
    back-pressure, until ``until_done`` DONE frames or an IDENT came back (or max_clocks)."""
    rng = np.random.default_rng(seed)
    out = bytearray()

    async def bench(ctx):
        i = 0
        for _ in range(max_clocks):
            ctx.set(bridge.rx.valid, i < len(host))
            if i < len(host):
                ctx.set(bridge.rx.payload, host[i])
                if ctx.get(bridge.rx.ready):
                    i += 1
            r = int(rng.random() >= tx_stall)
            ctx.set(bridge.tx.ready, r)
            if r and ctx.get(bridge.tx.valid):
                out.append(ctx.get(bridge.tx.payload))
            await ctx.tick()
            if i == len(host) and _frames_complete(bytes(out), bridge, until_done):
                return

    sim = Simulator(bridge)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return bytes(out)


def _parse(out: bytes, bridge: HostBridge) -> list:
    """Board→host frames as ('spike', addr) / ('done', step, status) / ('ident', bytes)."""
    xa = max(0, -(-(bridge.a_bits - 7) // 8))
    frames, i = [], 0
    while i < len(out):
        b = out[i]
        if b < 0x80:
            if i + 1 + xa > len(out):
                break
            frames.append(("spike", b | int.from_bytes(out[i + 1:i + 1 + xa], "little") << 7))
            i += 1 + xa
        elif b == Reply.DONE:
            if i + 4 > len(out):
                break
            frames.append(("done", int.from_bytes(out[i + 1:i + 3], "little"), out[i + 3]))
            i += 4
        elif b == Reply.IDENT:
            if i + 17 > len(out):
                break
            frames.append(("ident", out[i:i + 17]))
            i += 17
        else:
            raise AssertionError(f"bad frame byte {b:#x} at {i} in {out.hex()}")
    return frames


def _frames_complete(out: bytes, bridge: HostBridge, until_done: int) -> bool:
    frames = _parse(out, bridge)
    if until_done:
        return sum(f[0] == "done" for f in frames) >= until_done
    return any(f[0] == "ident" for f in frames)


class PtyBoard:
    """``HostLink(array)`` simulated behind a pty: the driver opens the slave as a serial port.

    The testbench polls the pty master, serialises each byte onto ``rx_pin`` (start, 8 data
    bits, stop; ``divisor`` clocks each) and decodes ``tx_pin`` back into bytes the same way,
    checking every stop bit. ``drive(fn)`` runs ``fn(serial.Serial)`` in a thread while the
    simulation runs, and returns its result (re-raising its exception).
    """

    def __init__(self, array, divisor: int = 4, **bridge_options):
        self.link = HostLink(array, divisor, **bridge_options)
        self.divisor = divisor
        self.clocks = 0
        self.tx_busy_clocks = 0  # clocks during which a frame was on tx_pin
        self.bytes_in = 0
        self.bytes_out = 0

    def drive(self, fn, *, timeout: float = 60.0, max_clocks: int = 20_000_000):
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        os.set_blocking(master, False)
        port = serial.Serial(os.ttyname(slave), baudrate=115200, timeout=timeout)
        stop = threading.Event()
        result: dict = {}

        def host():
            try:
                result["value"] = fn(port)
            except BaseException as err:  # noqa: BLE001 -- handed to the test thread
                result["error"] = err
            finally:
                stop.set()

        link, div = self.link, self.divisor
        bad_stop = []

        async def bench(ctx):
            levels: deque[int] = deque()
            level = 1
            next_sample, bit, shift = -1, -1, 0  # tx decoder: -1 = idle
            clock = 0
            while not stop.is_set():
                if clock >= max_clocks:
                    raise AssertionError(f"no end after {max_clocks} clocks")
                if not levels and clock % 8 == 0:
                    try:
                        got = os.read(master, 4096)
                    except (BlockingIOError, OSError):
                        got = b""
                    self.bytes_in += len(got)
                    for b in got:
                        for v in _frame_levels(b):
                            levels.extend([v] * div)
                if levels:
                    v = levels.popleft()
                    if v != level:
                        ctx.set(link.rx_pin, v)
                        level = v
                await ctx.tick()
                clock += 1
                pin = ctx.get(link.tx_pin)
                if next_sample < 0:
                    if not pin:
                        next_sample, bit, shift = clock + div // 2, -1, 0
                        start = clock
                elif clock == next_sample:
                    if bit == -1 and pin:
                        next_sample = -1  # a glitch: the transmitter never makes one
                        bad_stop.append(("glitch", clock))
                    elif 0 <= bit < 8:
                        shift |= pin << bit
                    elif bit == 8:
                        if not pin:
                            bad_stop.append(("stop", clock))
                        os.write(master, bytes([shift]))
                        self.bytes_out += 1
                        self.tx_busy_clocks += clock - start + div // 2
                        next_sample = -1
                        continue
                    bit += 1
                    next_sample = clock + div
            self.clocks += clock

        t0 = time.perf_counter()
        thread = threading.Thread(target=host, daemon=True)
        sim = Simulator(self.link)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        thread.start()
        try:
            sim.run()
        finally:
            stop.set()
            thread.join(timeout)
            port.close()
            os.close(master)
            os.close(slave)
        self.seconds = time.perf_counter() - t0
        assert not bad_stop, f"malformed frames on tx_pin: {bad_stop[:5]}"
        if "error" in result:
            raise result["error"]
        return result.get("value")


# ---------------------------------------------------------------------------- UART


@pytest.mark.parametrize("divisor,skew", [(4, 0.0), (5, 0.0), (16, 0.03), (16, -0.03)])
def test_uart_rx_random_bytes(divisor, skew) -> None:
    """Random bytes with random idle gaps, from a sender whose bit period is ``skew`` off."""
    rng = np.random.default_rng(divisor)
    sent = rng.integers(0, 256, 60).tolist()
    frames = [(int(rng.integers(0, 3)), b, 1) for b in sent]
    got, errors, overruns = _run_rx(divisor, _line(frames, divisor * (1 + skew)))
    assert got == sent
    assert (errors, overruns) == (0, 0)


def test_uart_rx_framing_error_and_break() -> None:
    div = 6
    # a low stop bit drops its byte; a 40-bit break is one error, not five zero bytes
    levels = _line([(2, 0x5A, 1), (1, 0xC3, 0)], div)
    levels += [0] * 40 * div + _line([(2, 0xA5, 1)], div)
    got, errors, overruns = _run_rx(div, levels)
    assert got == [0x5A, 0xA5]
    assert errors == 2
    assert overruns == 0


def test_uart_rx_ignores_glitch() -> None:
    div = 8
    levels = [1] * 10 + [0] * (div // 2 - 2) + [1] * 30 + _line([(1, 0x81, 1)], div)
    got, errors, _ = _run_rx(div, levels)
    assert got == [0x81]
    assert errors == 0


def test_uart_rx_overrun_keeps_the_waiting_byte() -> None:
    div = 4
    levels = _line([(1, 0x11, 1), (1, 0x22, 1), (1, 0x33, 1)], div)
    hold = 11 * div * 2 + 6  # the consumer stalls through the second byte
    got, errors, overruns = _run_rx(div, levels + [1] * 20, ready=lambda c: int(c > hold))
    assert got == [0x11, 0x33]
    assert overruns == 1
    assert errors == 0


@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_tx_random_bytes_with_stalls(divisor) -> None:
    """Bytes offered with random gaps come out 8N1, each frame exactly 10 bit periods."""
    rng = np.random.default_rng(divisor)
    sent = rng.integers(0, 256, 40).tolist()
    dut = UARTTransmitter(divisor)
    trace = []

    async def bench(ctx):
        for b in sent:
            for _ in range(int(rng.integers(0, 3)) * divisor):
                trace.append(ctx.get(dut.pin))
                await ctx.tick()
            ctx.set(dut.tx.valid, 1)
            ctx.set(dut.tx.payload, b)
            while not ctx.get(dut.tx.ready):
                trace.append(ctx.get(dut.pin))
                await ctx.tick()
            trace.append(ctx.get(dut.pin))
            await ctx.tick()
            ctx.set(dut.tx.valid, 0)
            ctx.set(dut.tx.payload, 0)
        for _ in range(11 * divisor):
            trace.append(ctx.get(dut.pin))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    got, c = [], 0
    while c < len(trace):
        if trace[c]:
            c += 1
            continue
        frame = trace[c:c + 10 * divisor]
        assert len(frame) == 10 * divisor
        for k in range(10):  # every bit holds for exactly `divisor` clocks
            cell = frame[k * divisor:(k + 1) * divisor]
            assert len(set(cell)) == 1, f"bit {k} of frame at {c} not stable: {cell}"
        bits = frame[::divisor]
        assert bits[0] == 0 and bits[9] == 1
        got.append(sum(bit << i for i, bit in enumerate(bits[1:9])))
        c += 10 * divisor
    assert got == sent


def test_uart_divisor() -> None:
    assert uart_divisor(12e6, 115200) == 104
    assert uart_divisor(25e6, 1e6) == 25
    with pytest.raises(ValueError, match="too slow"):
        uart_divisor(1e6, 500e3)
    with pytest.raises(ValueError, match="off"):
        uart_divisor(10e6, 2.2e6)  # 5 clocks: 2,000,000 baud, 9 % off


# ---------------------------------------------------------------------------- bridge


@pytest.mark.parametrize("retimed", [True, False])
def test_bridge_runs_the_core_under_tx_backpressure(retimed: bool) -> None:
    """Byte level, no UART: events + STEP per step, spikes framed back with tx stalls (and
    with the earlier binary state machines, which the bench still builds)."""
    net = _random_net(seed=3)
    steps = 30
    stim = poisson(net.n_neurons, steps, 0.15, seed=1)
    ref = simulate(net, steps, stim)
    host = bytearray([Op.PING])
    for t in range(steps):
        host += bytes(stim.neuron[stim.step == t].tolist()) + bytes([Op.STEP])
    bridge = HostBridge(LIFCore(net, retimed=retimed), design_id=0xDEADBEEF, retimed=retimed)
    frames = _parse(_bridge_bytes(bridge, bytes(host), tx_stall=0.6, until_done=steps), bridge)
    assert frames[0] == ("ident", bridge.ident_bytes())
    assert frames[0][1][2] == 5 and int.from_bytes(frames[0][1][3:7], "little") == 24
    t, got = 0, []
    for f in frames[1:]:
        if f[0] == "spike":
            got.append((t, f[1]))
        else:
            assert f == ("done", t, 0)
            t += 1
    assert t == steps
    assert got == list(zip(ref.step.tolist(), ref.neuron.tolist(), strict=True))
    assert len(got) > steps  # the map does fire


def test_bridge_reports_a_bad_command_once() -> None:
    bridge = HostBridge(LIFCore(_random_net(seed=1)))
    frames = _parse(_bridge_bytes(bridge, bytes([0xFE, Op.LOAD, Op.PING]), until_done=0),
                    bridge)
    assert frames[0][0] == "ident"
    assert frames[0][1][16] == Status.BAD_COMMAND  # also LOAD: this array is not loadable
    frames = _parse(_bridge_bytes(bridge, bytes([0xFE, Op.PING, Op.STEP]), until_done=1),
                    bridge)
    assert frames[0][1][16] == Status.BAD_COMMAND
    assert frames[1] == ("done", 0, 0)  # reported once, then cleared


@pytest.mark.parametrize("a_bits,addr_bits,data_bits", [(5, 6, 5), (12, 9, 20)])
def test_bridge_load_and_multibyte_addresses(a_bits, addr_bits, data_bits) -> None:
    """LOAD frames fill a ToyArray's table; EVENT/SPIKE frames of 1 and 2 bytes; RESET
    restarts the step counter."""
    rng = np.random.default_rng(a_bits)
    toy = ToyArray(a_bits, addr_bits, data_bits)
    bridge = HostBridge(toy)
    la, lw = -(-addr_bits // 8), -(-data_bits // 8)
    table = {int(a): int(rng.integers(0, 1 << min(a_bits, data_bits)))
             for a in rng.choice(1 << min(addr_bits, a_bits), 12, replace=False)}
    host = bytearray()
    for a, w in table.items():
        host += bytes([Op.LOAD]) + a.to_bytes(la, "little") + w.to_bytes(lw, "little")
    keys = list(table)
    xa = max(0, -(-(a_bits - 7) // 8))
    steps = [keys[:5], [], keys[5:12]]
    for evs in steps:
        for a in evs:
            host += bytes([a & 0x7F]) + (a >> 7).to_bytes(xa, "little")
        host += bytes([Op.STEP])
    host += bytes([Op.RESET, Op.STEP])
    frames = _parse(_bridge_bytes(bridge, bytes(host), tx_stall=0.3, until_done=4), bridge)
    expect = []
    for t, evs in enumerate(steps):
        expect += [("spike", table[a]) for a in evs] + [("done", t, 0)]
    expect += [("done", 0, 0)]
    assert frames == expect


def test_host_link_converts_to_rtlil() -> None:
    """The board top is plain synthesizable logic (no simulation-only constructs)."""
    from amaranth.back import rtlil

    text = rtlil.convert(HostLink(ToyArray(9, 9, 9), 12, design_id=0x12345678), name="top")
    assert "rx_pin" in text and "tx_pin" in text


# ---------------------------------------------------------------------------- end to end


def _compiled(tmp_path, net, steps, stim):
    out = tmp_path / "compiled"
    compile_network(net, out, stimulus=stim, steps=steps, backends=(), quiet=True)
    return out


def test_host_end_to_end_random_map(tmp_path) -> None:
    """Driver → pty → UART → bridge → LIFCore → bridge → UART → pty → driver, bit-exact; a
    16-byte receive FIFO makes the driver's send-ahead window bind."""
    net = _random_net(n=40, edges=160, seed=7)
    steps = 40
    stim = poisson(net.n_neurons, steps, 0.12, seed=2)
    compiled = _compiled(tmp_path, net, steps, stim)
    ref = simulate(net, steps, stim)
    pty = PtyBoard(LIFCore(net), divisor=4, design_id=design_id(net), rx_depth=16)

    def host(port):
        board = Board(port, timeout=30)
        info = board.load(compiled)
        raster = board.run(board.stimulus(), steps)
        again = board.run(board.stimulus(), 3)  # run() starts from reset: same first steps
        return info, raster, again

    info, raster, again = pty.drive(host)
    assert (info.a_bits, info.n_neurons, info.loadable, info.rx_depth) == (6, 40, False, 16)
    assert ref.first_difference(raster) is None, ref.first_difference(raster)
    assert len(raster) == len(ref) > steps
    first3 = simulate(net, 3, stim)
    assert first3.first_difference(again) is None
    # 6-bit addresses: one byte per spike; 17 per IDENT (load, two resets), 4 per DONE
    assert pty.bytes_out == 17 * 3 + len(ref) + len(first3) + 4 * (steps + 3)


def test_host_step_by_step_and_wrong_design(tmp_path) -> None:
    net = _random_net(n=200, edges=900, seed=11)  # 8-bit addresses: two-byte frames
    stim = poisson(net.n_neurons, 6, 0.1, seed=4)
    compiled = _compiled(tmp_path, net, 6, stim)
    ref = simulate(net, 6, stim)

    def host(port):
        board = Board(port, timeout=30)
        board.load(compiled)
        board.reset()
        return [board.step(stim.neuron[stim.step == t].tolist()) for t in range(6)]

    got = PtyBoard(LIFCore(net), design_id=design_id(net)).drive(host)
    assert got == [ref.neuron[ref.step == t].tolist() for t in range(6)]

    with pytest.raises(LinkError, match="holds design 00c0ffee"):
        PtyBoard(LIFCore(net), design_id=0xC0FFEE).drive(
            lambda port: Board(port, timeout=30).load(compiled))


def test_host_uploads_the_fanout_table_of_a_loadable_core(tmp_path) -> None:
    """LIFCore(fanout_loadable=True) starts with an empty table: load() uploads
    rtl/mem/fanout.hex through LOAD frames, and only then is the raster the reference's."""
    from neuropaste.generators.rtl import build_design

    net = _random_net(n=40, edges=160, seed=7)
    steps = 25
    stim = poisson(net.n_neurons, steps, 0.12, seed=3)
    out = tmp_path / "compiled"
    compile_network(net, out, stimulus=stim, steps=steps, backends=("rtl",), quiet=True)
    ref = simulate(net, steps, stim)
    core = build_design(net, fanout_loadable=True)  # as compiled: entries index a wd table

    def host(port):
        board = Board(port, timeout=300)
        empty = board.run(stim, steps)  # nothing uploaded yet: no synapses
        info = board.load(out)
        return info, empty, board.run(board.stimulus(), steps)

    pty = PtyBoard(core, design_id=design_id(net))
    info, empty, raster = pty.drive(host)
    assert info.loadable and info.load_data_bits == core.geometry.entry_bits
    assert empty.first_difference(ref) is not None
    assert ref.first_difference(raster) is None, ref.first_difference(raster)


def _compiled_mesh(tmp_path, cores: int, profile: str = "default"):
    """A 40-neuron random map, its stimulus and its mesh compiled on ``cores`` cores."""
    from neuropaste.generators.rtl import profile_options

    net = _random_net(n=40, edges=160, seed=7)
    steps = 20
    stim = poisson(net.n_neurons, steps, 0.12, seed=5)
    out = tmp_path / "compiled"
    compile_network(net, out, stimulus=stim, steps=steps, backends=("rtl",),
                    backend_options={"rtl": profile_options(profile, cores=cores)}, quiet=True)
    return net, steps, stim, out


def test_host_end_to_end_mesh(tmp_path) -> None:
    """Four cores on a mesh: the driver maps labels through rtl/address_map.csv."""
    from neuropaste.compiled import Compiled
    from neuropaste.generators.rtl import build_design

    net, steps, stim, out = _compiled_mesh(tmp_path, 4)
    assert (out / "rtl" / "address_map.csv").exists()
    mesh = build_design(net, Compiled.open(out).placement())
    ref = simulate(net, steps, stim)

    def host(port):
        board = Board(port, timeout=30)
        assert board.load(out).n_neurons == net.n_neurons
        assert not (board.to_hw == np.arange(net.n_neurons)).all()  # a real permutation
        return board.run(board.stimulus(), steps)

    raster = PtyBoard(mesh, design_id=design_id(net)).drive(host)
    assert ref.first_difference(raster) is None, ref.first_difference(raster)
    assert len(raster) == len(ref) > steps


@pytest.mark.parametrize("profile", ["default", pytest.param("small", marks=pytest.mark.slow)])
def test_host_uploads_every_core_table_of_a_loadable_mesh(tmp_path, profile: str) -> None:
    """A mesh whose cores' fan-out tables are RAMs (SPRAM on the UP5K): load() uploads each
    rtl/mem/core_K/fanout.hex, addressed core | entry, and only then is it the reference;
    ``small``: the design ``compile --rtl-profile small`` puts on the iCEBreaker, as the FPGA
    flow builds it from the manifest."""
    from neuropaste.compiled import Compiled
    from neuropaste.generators.rtl import build_design

    net, steps, stim, out = _compiled_mesh(tmp_path, 3, profile)
    cd = Compiled.open(out)
    mesh = build_design(net, cd.placement(), fanout_loadable=True,
                        design=cd.manifest["backends"]["rtl"]["design"])
    assert mesh.mask_routes == mesh.ptr_ends == mesh.ext_in_r == (profile == "small")
    ref = simulate(net, steps, stim)

    def host(port):
        board = Board(port, timeout=300)
        empty = board.run(stim, steps)  # nothing uploaded yet: no synapses
        info = board.load(out)
        return info, empty, board.run(board.stimulus(), steps)

    info, empty, raster = PtyBoard(mesh, design_id=design_id(net)).drive(host)
    assert info.loadable and info.load_addr_bits == 2 + mesh.load_entry_bits
    assert empty.first_difference(ref) is not None
    assert ref.first_difference(raster) is None, ref.first_difference(raster)


def test_host_upload_and_overrun_detection(tmp_path) -> None:
    """upload() through the UART into a loadable array; a host that floods the receive FIFO
    while a step runs is told so (OVERRUN), never handed a wrong raster."""
    toy = ToyArray(a_bits=9, addr_bits=9, data_bits=9, tail=3000)
    words = [(a, (a * 37 + 5) % 512) for a in range(0, 512, 7)]
    image = tmp_path / "fanout.hex"
    image.write_text("".join(f"{w:03x}\n" for w in range(10)))
    assert read_hex_image(image) == list(range(10))

    def host(port):
        board = Board(port, timeout=30)
        info = board.identify()
        assert info.loadable and (info.load_addr_bits, info.load_data_bits) == (9, 9)
        assert board.upload(words) == len(words)
        spikes = board.step([a for a, _ in words[:6]])
        # now break the rule: 40 bytes behind a STEP that takes 3,000 clocks, 8-byte FIFO
        port.write(bytes([Op.STEP]) + bytes(40) + bytes([Op.STEP]))
        with pytest.raises(LinkError, match="overrun"):
            board._collect("a flooded step")
        return spikes

    spikes = PtyBoard(toy, rx_depth=8).drive(host)
    assert spikes == sorted(w for _, w in words[:6])


def test_host_timeout_names_what_it_waited_for() -> None:
    master, slave = os.openpty()
    try:
        board = Board(os.ttyname(slave), baud=115200, timeout=0.3)
        t0 = time.perf_counter()
        with pytest.raises(LinkError, match="no reply from the board .* IDENT reply to PING"):
            board.identify()
        assert time.perf_counter() - t0 < 3
        board.close()
    finally:
        os.close(master)
        os.close(slave)


def test_host_end_to_end_celegans(tmp_path) -> None:
    net = quantize(load_map("builtin:celegans"), QuantOptions())
    steps = 30
    stim = poisson(net.n_neurons, steps, 0.02, seed=0)
    compiled = _compiled(tmp_path, net, steps, stim)
    ref = simulate(net, steps, stim)
    pty = PtyBoard(LIFCore(net), divisor=4, design_id=design_id(net))

    def host(port):
        board = Board(port, timeout=120)
        board.load(compiled)
        return board.run(board.stimulus(), steps)

    raster = pty.drive(host, timeout=300)
    assert ref.first_difference(raster) is None, ref.first_difference(raster)
    assert len(raster) == len(ref) > 0
    print(f"celegans {steps} steps: {len(ref)} spikes, {pty.clocks} clocks, "
          f"{pty.bytes_out} bytes out, tx busy {pty.tx_busy_clocks / pty.clocks:.0%}, "
          f"{pty.seconds:.1f} s")


def test_stimulus_empty_run_is_quiet() -> None:
    """No drive, no bias: a reset board stays silent, and DONE frames still count the steps."""
    net = _random_net(seed=5)
    ref = simulate(net, 5, Stimulus.empty())
    assert len(ref) == 0
    raster = PtyBoard(LIFCore(net)).drive(lambda port: Board(port, timeout=30).run(None, 5))
    assert len(raster) == 0 and raster.steps == 5
