"""The top level of an emitted mesh, written as Verilog text.

With ``hooks`` (:class:`~neuropaste.hdl.mesh.NeuronMesh`), the mesh's top holds only instances
of the class modules, links and glue: per core its core, exit stage and router, the links
between them, a slice of the host arbiter, of the input demultiplexer and of the step barrier.
Amaranth converted that glue bit by bit of every signal (~0.1 s a core on this machine, 55 s
of the 391-core clustered map's 160 s in the RTL backend, and Yosys again on its 10 MB of
RTLIL); written here it takes a fraction of a second. The text computes what
:meth:`NeuronMesh.elaborate` builds, clock for clock: the same instance names, parameters,
port names and link seeds, the same arbiter (lowest request first), demultiplexer and barrier
state machine; the whole-array Icarus tests and the per-core replay (which reads these
instances: ``verify/replay.py``) check it against the reference model.
"""

from __future__ import annotations

from amaranth import Shape
from amaranth.lib import wiring

from .mesh import EJECT_MODULE, ROUTER_MODULE, NeuronMesh, core_module, exit_module
from .router import LINK_STALL_MODULE, coord_bits, packet_layout, stall_seed

SIDES = ("east", "west", "north", "south", "local")


def ports(component: wiring.Component) -> list[tuple[str, str, int]]:
    """(name, ``input`` or ``output``, width) of each port of ``component`` converted as a
    top-level module (Amaranth's names: the signature's path joined by ``__``)."""
    out = []
    for path, member, _ in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        out.append((name, "input" if member.flow == wiring.In else "output",
                    Shape.cast(member.shape).width))
    return out


def _range(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def _fit(expr: str, have: int, want: int) -> str:
    """``expr`` of ``have`` bits as ``want`` bits: zero-extended or truncated (Amaranth's
    ``eq`` of an unsigned value)."""
    if have == want:
        return expr
    if have > want:
        return f"{expr}[{want - 1}:0]" if want > 1 else f"{expr}[0]"
    return f"{{{want - have}'d0, {expr}}}"


def _tree(out: list[str], name: str, terms: list[str], width: int, op: str) -> str:
    """A balanced tree of ``op`` over ``terms`` as wires ``name_L_i`` (a chain of hundreds
    would be as deep as the cores); returns the root's expression."""
    level = 0
    while len(terms) > 1:
        nxt = []
        for i in range(0, len(terms), 2):
            if i + 1 == len(terms):
                nxt.append(terms[i])
                continue
            wire = f"{name}_{level}_{i // 2}"
            out.append(f"  wire {_range(width)}{wire} = {terms[i]} {op} {terms[i + 1]};")
            nxt.append(wire)
        terms, level = nxt, level + 1
    return terms[0]


def mesh_top(mesh: NeuronMesh, name: str) -> str:
    """Module ``name``: the top of ``mesh`` (built with ``hooks``) over its class modules."""
    if not (mesh.hooks and mesh.stall_hooks):
        raise ValueError("the top is written over class modules and link instances: build "
                         "the mesh with hooks and stall_hooks")
    plan = mesh.plan
    w, h, n = plan.width, plan.height, plan.n_cores
    a = mesh.a_bits
    layout = packet_layout(plan.axon_bits, w, h)
    _, class_of = plan.classes
    protos = mesh.class_modules()
    for proto in [mesh, *protos.values()]:  # read for their ports only: Amaranth's opt-out
        proto._MustUse__silence = True
    top_ports = ports(mesh)
    lines: list[str] = []
    decl = lines.append
    head = ["clk", "rst"] + [p for p, _, _ in top_ports]
    decl(f"module {name}({', '.join(head)});")
    decl("  input clk;\n  input rst;")
    for p, d, width in top_ports:
        decl(f"  {d} {_range(width)}{p};")

    def instance(module: str, inst: str, params: dict[str, str], conns: dict[str, str]) -> None:
        par = ""
        if params:
            par = " #(\n" + ",\n".join(f"    .{k}({v})" for k, v in params.items()) + "\n  )"
        body = ",\n".join(f"    .{k}({v})" for k, v in sorted(conns.items()))
        decl(f"  {module}{par} {inst} (\n{body}\n  );")

    proto_ports: dict[int, list[tuple[str, str, int]]] = {}

    def unit(module: str, inst: str, proto: wiring.Component, params: dict[str, str],
             constants: dict[str, str] | None = None) -> dict[str, int]:
        """An instance with a wire ``inst__port`` on every port (but ``constants``)."""
        constants = constants or {}
        widths, conns = {}, {"clk": "clk", "rst": "rst"}
        if id(proto) not in proto_ports:  # a class's ports once, not once per core
            proto_ports[id(proto)] = ports(proto)
        for p, _, width in proto_ports[id(proto)]:
            widths[p] = width
            if p in constants:
                conns[p] = constants[p]
            else:
                decl(f"  wire {_range(width)}{inst}__{p};")
                conns[p] = f"{inst}__{p}"
        instance(module, inst, params, conns)
        return widths

    seeds = iter(range(1, 1 << 20))

    def link(label: str, src: str, dst: str) -> None:
        """``src`` (stream wires ``src__valid`` ...) to ``dst``, through a link instance
        (a wire unless a simulator defines ``NEUROPASTE_SIM_STALL``)."""
        seed = next(seeds)
        instance(LINK_STALL_MODULE, f"stall_{label}",
                 {"SEED": f"32'd{stall_seed(mesh.seed * 7919 + seed)}",
                  "WIDTH": f"32'd{layout.size}"},
                 {"clk": "clk", "rst": "rst", "i_payload": f"{src}__payload",
                  "i_valid": f"{src}__valid", "i_ready": f"{src}__ready",
                  "o_payload": f"{dst}__payload", "o_valid": f"{dst}__valid",
                  "o_ready": f"{dst}__ready"})

    core_w, exit_w = [], []
    for c in range(n):
        k = int(class_of[c])
        image = {"IMAGE": f'"core_{c}/"'}
        core_w.append(unit(core_module(k), f"core_{c}", protos[core_module(k)], image))
        exit_w.append(unit(exit_module(k), f"exit_{c}", protos[exit_module(k)], image))
        unit(ROUTER_MODULE, f"router_{c}", protos[ROUTER_MODULE], {},
             {"x": f"{coord_bits(w)}'d{c % w}", "y": f"{coord_bits(h)}'d{c // w}"})

    # ------------------------------------------------ router to router, and the mesh's edges
    linked: set[tuple[int, str]] = set()
    for c in range(n):
        x, y = c % w, c // w
        for dx, dy, out, into in ((1, 0, "east", "west"), (0, 1, "north", "south")):
            if x + dx < w and y + dy < h:
                o = (y + dy) * w + x + dx
                link(f"{x}_{y}_{out}", f"router_{c}__o_{out}", f"router_{o}__i_{into}")
                link(f"{x + dx}_{y + dy}_{into}", f"router_{o}__o_{into}",
                     f"router_{c}__i_{out}")
                linked |= {(c, out), (o, into)}
    for c in range(n):
        for side in SIDES[:4]:
            if (c, side) not in linked:  # an edge of the mesh: nothing comes in, none taken
                decl(f"  assign router_{c}__i_{side}__payload = {layout.size}'d0;\n"
                     f"  assign router_{c}__i_{side}__valid = 1'b0;\n"
                     f"  assign router_{c}__o_{side}__ready = 1'b0;")

    # ------------------------------------------------ per core: exit stage and ejection
    decl(f"  wire {_range(n)}host_take;")
    for c in range(n):
        decl(f"  assign exit_{c}__spike__valid = core_{c}__aer_out__valid;\n"
             f"  assign exit_{c}__spike__payload = core_{c}__aer_out__payload;\n"
             f"  assign core_{c}__aer_out__ready = exit_{c}__spike__ready;")
        link(f"inject_{c}", f"exit_{c}__inject", f"router_{c}__i_local")
        decl(f"  wire {_range(layout.size)}eject_{c}__payload;\n"
             f"  wire eject_{c}__valid;\n  wire eject_{c}__ready;")
        link(f"eject_{c}", f"router_{c}__o_local", f"eject_{c}")
        syn = core_w[c]["syn_in__payload"]  # the packet's axon field, its lowest bits
        axon = _fit(f"eject_{c}__payload", layout.size, min(plan.axon_bits, syn))
        src = f"eject_{c}"
        if mesh.short_paths:  # through the ejection register (NeuronMesh short_paths)
            unit(EJECT_MODULE, f"eject_reg_{c}", protos[EJECT_MODULE], {})
            decl(f"  assign eject_reg_{c}__i__valid = eject_{c}__valid;\n"
                 f"  assign eject_reg_{c}__i__payload = "
                 f"{_fit(f'eject_{c}__payload', layout.size, plan.axon_bits)};\n"
                 f"  assign eject_{c}__ready = eject_reg_{c}__i__ready;")
            src = f"eject_reg_{c}__o"
            axon = _fit(f"{src}__payload", plan.axon_bits, min(plan.axon_bits, syn))
        decl(f"  assign core_{c}__syn_in__valid = {src}__valid;\n"
             f"  assign core_{c}__syn_in__payload = "
             f"{_fit(axon, min(plan.axon_bits, syn), syn)};\n"
             f"  assign {src}__ready = core_{c}__syn_in__ready;\n"
             f"  assign exit_{c}__host__ready = host_take[{c}];")

    # ------------------------------------------------ host side: merged spikes, demuxed input
    def cat(field: str) -> str:  # Amaranth's Cat: core 0 in the lowest bit
        return "{" + ", ".join(field.format(c) for c in reversed(range(n))) + "}"

    decl(f"  wire {_range(n)}host_req = {cat('exit_{}__host__valid')};\n"
         f"  wire {_range(n)}host_grant = host_req & (~host_req + {n}'d1);\n"
         "  assign aer_out__valid = |host_req;\n"
         f"  assign host_take = host_grant & {{{n}{{aer_out__ready}}}};")
    terms = []
    for c in range(n):
        width = exit_w[c]["host__payload"]
        decl(f"  wire {_range(a)}host_src_{c} = {_fit(f'exit_{c}__host__payload', width, a)}"
             f" + {a}'d{int(plan.base[c])};")
        terms.append(f"(host_src_{c} & {{{a}{{host_grant[{c}]}}}})")
    decl(f"  assign aer_out__payload = {_tree(lines, 'host_or', terms, a, '|')};")

    decl("  wire idle;\n  wire cores_busy = |" + cat("core_{}__busy") + ";\n"
         "  assign aer_in__ready = idle & (&" + cat("core_{}__aer_in__ready") + ");")
    for c in range(n):
        lo, hi = int(plan.base[c]), int(plan.base[c + 1])
        width = core_w[c]["aer_in__payload"]
        span = max(a, width)
        decl(f"  assign core_{c}__aer_in__valid = idle & aer_in__valid & (aer_in__payload >= "
             f"{lo}) & (aer_in__payload < {hi});\n"
             f"  wire {_range(span)}aer_in_{c} = aer_in__payload - {span}'d{lo};\n"
             f"  assign core_{c}__aer_in__payload = {_fit(f'aer_in_{c}', span, width)};")

    # ------------------------------------------------ the step barrier
    eject_empty = cat("eject_reg_{}__empty") if mesh.short_paths else f"{n}'b{'1' * n}"
    decl(f"  wire {_range(n)}delivered_now = {cat('core_{}__delivered')};\n"
         f"  wire {_range(n)}done_pulse = {cat('core_{}__done')};\n"
         f"  wire {_range(n)}router_idle = {cat('router_{}__idle')};\n"
         f"  wire {_range(n)}stage_empty = {cat('exit_{}__empty')};\n"
         f"  wire {_range(n)}eject_empty = {eject_empty};\n"
         f"  reg {_range(n)}finished = {n}'d0;\n  reg {_range(n)}seen = {n}'d0;\n"
         "  reg [1:0] fsm_state = 2'd0;  // 0 IDLE, 1 DELIVER, 2 UPDATE\n"
         "  reg [31:0] step_count_r = 32'd0;\n  reg [31:0] deliver_cycles_r = 32'd0;\n"
         "  reg [31:0] update_cycles_r = 32'd0;\n"
         "  assign step_count = step_count_r;\n  assign deliver_cycles = deliver_cycles_r;\n"
         "  assign update_cycles = update_cycles_r;\n"
         "  wire all_delivered = &delivered_now;\n"
         "  wire all_seen = &(seen | delivered_now);\n"
         "  wire network_empty = (&router_idle) & (&stage_empty) & (&eject_empty);\n"
         f"  wire {_range(n)}done_now = finished | done_pulse;\n"
         "  assign idle = (fsm_state == 2'd0) & ~cores_busy;\n"
         "  assign busy = (fsm_state == 2'd0) ? cores_busy : 1'b1;\n"
         "  assign done = (fsm_state == 2'd2) & (&finished) & network_empty;")
    start = "start & idle"
    if mesh.short_paths:  # a clock later, from a flip-flop (NeuronMesh short_paths)
        decl("  reg start_q = 1'b0;\n"
             "  always @(posedge clk) start_q <= rst ? 1'b0 : start & idle;")
        start = "start_q"
    for c in range(n):
        decl(f"  assign core_{c}__start = {start};\n"
             f"  assign core_{c}__proceed = all_delivered;")
    decl(f"  assign sop_count = "
         f"{_tree(lines, 'sop_sum', [f'core_{c}__sop_count' for c in range(n)], 32, '+')};")
    decl("""  always @(posedge clk) begin
    if (rst) begin
      fsm_state <= 2'd0;
      finished <= 0;
      seen <= 0;
      step_count_r <= 32'd0;
      deliver_cycles_r <= 32'd0;
      update_cycles_r <= 32'd0;
    end else begin
      case (fsm_state)
        2'd0:
          if (start & ~cores_busy) begin
            finished <= 0;
            seen <= 0;
            fsm_state <= 2'd1;
          end
        2'd1: begin
          deliver_cycles_r <= deliver_cycles_r + 32'd1;
          seen <= seen | delivered_now;
          finished <= done_now;
          if (all_seen) fsm_state <= 2'd2;
        end
        2'd2: begin
          update_cycles_r <= update_cycles_r + 32'd1;
          finished <= done_now;
          if (done) begin
            step_count_r <= step_count_r + 32'd1;
            fsm_state <= 2'd0;
          end
        end
        default: ;
      endcase
    end
  end
endmodule
""")
    return "\n".join(lines)
