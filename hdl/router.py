"""A 2D-mesh router for AER spike packets, with row multicast in YX order.

Why a mesh with dimension-ordered routing, as TrueNorth and Loihi do: every link joins
neighbours, so the network grows with the die and no wire gets longer; and a fixed dimension
order (first along y, then along x, then out) makes the channel dependencies acyclic, so no
amount of back-pressure can deadlock it. A tree would put all traffic between its halves
through one root link.

Multicast, hierarchical: a packet carries the source's axon index, one destination *row* and a
mask of the *columns* of that row it must reach (``width`` bits), so its width grows with the
mesh's side, not with its core count. A spike leaves its core as one packet per row that holds
one of its targets (the sender table, ``hdl.mesh.sender_table``). A router at ``(x, y)`` sends
a packet for another row on north or south, unchanged, along its column; in its own row it
splits the column mask (east: columns right of it; west: left of it; local: its own), so within
a row a packet is copied only where its destinations part, never once per synapse. The router's
position comes on the ports ``x`` and ``y``: every router of a mesh is one module (constant
inputs that synthesis folds), not one elaboration per position.

Each input has a small FIFO. The head of an input goes to every output it needs, each copy when
that output is free (asynchronous replication: a busy branch does not hold the others), and
leaves the FIFO when every copy has gone. Outputs serve their inputs in fixed priority, through
traffic before local injection; packets of a step are finite, so none starves.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

PORTS = ("east", "west", "north", "south", "local")  # input priority order, highest first


def coord_bits(n: int) -> int:
    """Bits of a coordinate 0..n-1 (at least one)."""
    return max(1, (n - 1).bit_length())


def packet_layout(src_bits: int, width: int, height: int) -> data.StructLayout:
    """An AER packet on the mesh: the spiking neuron's axon index, its destination row and the
    columns of that row it must reach."""
    return data.StructLayout({"src": unsigned(src_bits), "row": unsigned(coord_bits(height)),
                              "cols": unsigned(width)})


def packet_word(axon: int, row: int, cols: int, axon_bits: int, height: int) -> int:
    """A packet as the integer of its bits (``src`` lowest), as a link carries it."""
    return axon | row << axon_bits | cols << (axon_bits + coord_bits(height))


def split(x: int, y: int, row: int, cols: int) -> dict[str, int]:
    """Where router (x, y) sends a packet for ``row``, ``cols``: output port -> the column
    mask it carries on (ports it does not use left out)."""
    if row != y:
        return {"north" if row > y else "south": cols}
    out = {"east": cols & ~((2 << x) - 1), "west": cols & ((1 << x) - 1),
           "local": cols & (1 << x)}
    return {p: c for p, c in out.items() if c}


class MeshRouter(wiring.Component):
    """A router of a ``width`` × ``height`` mesh: streams ``i_<port>`` in, ``o_<port>`` out;
    its position on the inputs ``x`` and ``y`` (held constant by the mesh).

    ``idle`` is high when no packet is buffered: with the links holding no state of their own,
    the network is empty exactly when every router is idle.
    """

    def __init__(self, width: int, height: int, src_bits: int, depth: int = 2):
        self.layout = packet_layout(src_bits, width, height)
        self.width, self.height = width, height
        self.depth = depth
        members = {}
        for p in PORTS:
            members[f"i_{p}"] = In(stream.Signature(self.layout))
            members[f"o_{p}"] = Out(stream.Signature(self.layout))
        members["idle"] = Out(1)
        members["x"] = In(coord_bits(width))
        members["y"] = In(coord_bits(height))
        super().__init__(members)

    def elaborate(self, platform) -> Module:
        m = Module()
        n_in, w = len(PORTS), self.width
        # :func:`split` in logic: per column one comparison with the position
        masks = {"east": Signal(w, name="mask_east"), "west": Signal(w, name="mask_west"),
                 "local": Signal(w, name="mask_local")}
        m.d.comb += [masks["east"].eq(Cat(self.x < xx for xx in range(w))),
                     masks["west"].eq(Cat(self.x > xx for xx in range(w))),
                     masks["local"].eq(Cat(self.x == xx for xx in range(w)))]
        heads, pending, fifos = [], [], []
        taken = [Signal(len(PORTS), name=f"taken_{p}") for p in PORTS]
        for i, p in enumerate(PORTS):
            fifo = SyncFIFOBuffered(width=self.layout.size, depth=self.depth)
            m.submodules[f"fifo_{p}"] = fifo
            port = getattr(self, f"i_{p}")
            m.d.comb += [fifo.w_data.eq(port.payload), fifo.w_en.eq(port.valid),
                         port.ready.eq(fifo.w_rdy)]
            head = data.View(self.layout, fifo.r_data)
            here = head.row == self.y
            need = {"east": here & ((head.cols & masks["east"]) != 0),
                    "west": here & ((head.cols & masks["west"]) != 0),
                    "north": head.row > self.y, "south": head.row < self.y,
                    "local": here & ((head.cols & masks["local"]) != 0)}
            sent = Signal(len(PORTS), name=f"sent_{p}")
            want = Signal(len(PORTS), name=f"want_{p}")
            m.d.comb += want.eq(Cat(need[q] for q in PORTS)
                                & fifo.r_rdy.replicate(len(PORTS)) & ~sent)
            finished = Signal(name=f"finished_{p}")
            m.d.comb += [finished.eq(fifo.r_rdy & ((want & ~taken[i]) == 0)),
                         fifo.r_en.eq(finished)]
            with m.If(finished):
                m.d.sync += sent.eq(0)
            with m.Else():
                m.d.sync += sent.eq(sent | taken[i])
            heads.append(head)
            pending.append(want)
            fifos.append(fifo)

        for k, q in enumerate(PORTS):
            out = getattr(self, f"o_{q}")
            granted = Signal(n_in, name=f"grant_{q}")
            with m.Switch(Cat(pending[i][k] for i in range(n_in))):  # fixed priority
                for i in range(n_in):
                    with m.Case("-" * (n_in - 1 - i) + "1" + "0" * i):
                        cols = heads[i].cols & masks[q] if q in masks else heads[i].cols
                        m.d.comb += [granted.eq(1 << i), out.valid.eq(1),
                                     out.payload.src.eq(heads[i].src),
                                     out.payload.row.eq(heads[i].row),
                                     out.payload.cols.eq(cols)]
            for i in range(n_in):
                m.d.comb += taken[i][k].eq(granted[i] & out.ready)

        m.d.comb += self.idle.eq(Cat(f.level == 0 for f in fifos).all())
        return m


def stall_threshold(probability: float) -> int:
    """The 8-bit LFSR threshold that closes a link on ``probability`` of clocks (0..255)."""
    return min(255, max(0, round(probability * 256)))


def stall_seed(seed: int) -> int:
    """A non-zero 16-bit LFSR start for link ``seed`` (zero would lock the LFSR)."""
    return (seed * 40503 + 1) & 0xFFFF or 1


class LinkStall(wiring.Component):
    """A link that randomly refuses transfers: back-pressure for verification only.

    A 16-bit LFSR per link closes it on a fraction ``probability`` of clocks (both ``valid`` and
    ``ready`` masked together, so a packet is never lost or doubled). Not for synthesis.
    """

    def __init__(self, layout: data.StructLayout, probability: float, seed: int):
        self.threshold = stall_threshold(probability)
        self.seed = stall_seed(seed)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform) -> Module:
        m = Module()
        lfsr = Signal(16, init=self.seed)
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[2] ^ lfsr[3] ^ lfsr[5]))
        go = Signal()
        m.d.comb += [go.eq(lfsr[:8] >= self.threshold),
                     self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid & go),
                     self.i.ready.eq(self.o.ready & go)]
        return m


#: the Verilog module of a mesh link in the emitted Verilog (``NeuronMesh(stall_hooks=True)``)
LINK_STALL_MODULE = "neuropaste_link_stall"

#: :class:`LinkStall` in Verilog, as the emitted mesh carries it: a plain wire unless the
#: simulator defines ``NEUROPASTE_SIM_STALL`` (the 8-bit threshold, :func:`stall_threshold`), so
#: synthesis and FPGA builds see none of it. Same LFSR, taps and seeds as :class:`LinkStall`.
LINK_STALL_VERILOG = f"""
// A mesh link. With NEUROPASTE_SIM_STALL defined (simulation only: verify --link-stall) a
// 16-bit LFSR closes it on NEUROPASTE_SIM_STALL/256 of clocks, valid and ready together.
module {LINK_STALL_MODULE} #(parameter WIDTH = 1, parameter SEED = 1) (
  input clk, input rst,
  input [WIDTH-1:0] i_payload, input i_valid, output i_ready,
  output [WIDTH-1:0] o_payload, output o_valid, input o_ready);
  assign o_payload = i_payload;
`ifdef NEUROPASTE_SIM_STALL
  reg [15:0] lfsr = SEED;
  always @(posedge clk)
    if (rst) lfsr <= SEED;
    else lfsr <= {{lfsr[0] ^ lfsr[2] ^ lfsr[3] ^ lfsr[5], lfsr[15:1]}};
  wire go = lfsr[7:0] >= `NEUROPASTE_SIM_STALL;
  assign o_valid = i_valid & go;
  assign i_ready = o_ready & go;
`else
  // verilator lint_off UNUSED
  wire unused = clk ^ rst;
  // verilator lint_on UNUSED
  assign o_valid = i_valid;
  assign i_ready = o_ready;
`endif
endmodule
"""
