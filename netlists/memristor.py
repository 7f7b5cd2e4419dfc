"""ngspice building blocks of the imprint's SPICE proof: threshold memristors whose state obeys
the update ODEs of :mod:`neuropaste.plasticity`, and a passive crossbar driven by pulse trains.

A memristor is a behavioural subcircuit ``p n w``: its state ``w`` (the normalised conductance
``(G - G_min) / (G_max - G_min)``) is the voltage of a 1 F capacitor charged by a B-source
current equal to ``dw/dt``, so ngspice's own transient integrator integrates the device's ODE
while the cell conducts ``I = G(w) V(p, n)``. The current expression is written from the model's
parameters alone, one function per update model (:func:`state_rate`); ``docs/imprint.md``
repeats the equations.

The crossbar is a passive (0T1R) array, as the pulse-overlap scheme needs: row ``i`` is
driven from its left end by a PWL source ``Vrow{i}`` carrying neuron i's pre-synaptic
waveform, column ``j`` from its top end by ``Vcol{j}`` carrying neuron j's post-synaptic
waveform, and every row and column segment between two cells is a wire resistance ``r_wire``.
The state of cell (i, j) is the top-level node ``w{i}_{j}``; a ``.measure`` per cell prints its
final value when the file is run with ``ngspice -b``. Node and element names are indices only:
nothing a user wrote reaches the netlist outside a :func:`neuropaste.text.comment`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from neuropaste.devices import Electrical
from neuropaste.plasticity import DeviceModel, PulseScheme
from neuropaste.text import comment, identifier

TITLE = ".title neuropaste imprint crossbar"
#: tight tolerances: the state is a charge integrated over ~1 us overlaps of a long transient
OPTIONS = ".options reltol=1e-5 abstol=1e-15 vntol=1e-9 method=gear"
SUBCKT = "npmem"
PWL_PAIRS_PER_LINE = 8  # a long train continues on ``+`` lines


def number(x: float) -> str:
    """A float as SPICE text, exactly (shortest repr that reads back to the same double)."""
    x = float(x)
    if not np.isfinite(x):
        raise ValueError(f"not a finite number: {x!r}")
    return repr(x)


def pwl(t: np.ndarray, v: np.ndarray) -> str:
    """``PWL(t0 v0 t1 v1 ...)`` for strictly increasing breakpoint times ``t``, continued on
    ``+`` lines every :data:`PWL_PAIRS_PER_LINE` pairs."""
    t, v = np.asarray(t, np.float64), np.asarray(v, np.float64)
    if t.ndim != 1 or t.shape != v.shape or len(t) == 0:
        raise ValueError("PWL needs two equal-length 1-D arrays")
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("PWL breakpoint times must increase strictly")
    pairs = [f"{number(a)} {number(b)}" for a, b in zip(t, v, strict=True)]
    lines = [" ".join(pairs[k:k + PWL_PAIRS_PER_LINE])
             for k in range(0, len(pairs), PWL_PAIRS_PER_LINE)]
    return "PWL(" + "\n+ ".join(lines) + ")"


#: the rate of each polarity: VTEAM's k (V/v_th - 1)^alpha beyond its threshold, else 0
#: (``uramp`` is ngspice's max(x, 0), so ``pow`` sees a non-negative base)
#: ``kf``: the cell's device-to-device rate factor; ``v(f)``: its cycle-to-cycle factor (a PWL
#: source holding each update's draw from just before that update's spike)
UP = "kf*v(f)*kp*pow(uramp(v(p,n)/vth-1),alpha)"
DOWN = "kf*v(f)*kd*pow(uramp(-v(p,n)/vthd-1),alpha)"
#: a cycle-to-cycle factor switches this long before its update's spike, over 1 ns
F_LEAD = 2e-9
#: abrupt PCM RESET: the state falls at this rate (1/s) while V < -v_reset, to 0 within ns
K_RESET = 1e10


def _window(x_inf: float, c: float) -> str:
    """|dx/dE| of one polarity (plasticity.update): 1 when linear, else ``c |x_inf - x|``."""
    return "1" if c == 0.0 else f"{number(c)}*abs({number(x_inf)}-v(w))"


def model_subckt(model: DeviceModel) -> list[str]:
    """The device update model as the subcircuit ``npmem p n w f`` (module doc).

    ``dx/dt = k_pot(V) w_pot(x) [x < 1] - k_dep(V) w_dep(x) [x > 0]`` with the thresholds,
    rates and windows of :class:`~neuropaste.plasticity.ThresholdRate` and
    :meth:`~neuropaste.plasticity.DeviceModel.targets`: the ODE whose closed form is
    :func:`neuropaste.plasticity.update`, clipped to [0, 1] as the engine clips. PCM adds its
    abrupt RESET below ``-v_reset``. Instance parameters per cell: ``w0`` (initial state),
    ``kf`` (device-to-device rate factor), ``gmin``, ``gmax`` (its bounds); the node ``f``
    carries its cycle-to-cycle factor (1 V: none)."""
    r = model.rate
    xp, cp, xd, cd = model.targets()
    params = {"w0": 0.0, "kf": 1.0, "gmin": model.g_min, "gmax": model.g_max, "vth": r.v_th,
              "vthd": r.v_th_dep, "kp": r.k_pot, "kd": r.k_dep, "alpha": r.alpha}
    rate = (f"{UP}*{_window(xp, cp)}*(v(w)<1?1:0)"
            f"-{DOWN}*{_window(xd, cd)}*(v(w)>0?1:0)")
    if math.isfinite(model.v_reset):
        params["vrst"] = model.v_reset
        rate += f"-(v(p,n)<-vrst?{number(K_RESET)}*v(w):0)"
    defaults = " ".join(f"{k}={number(v)}" for k, v in sorted(params.items()))
    return [f".subckt {SUBCKT} p n w f {defaults}",
            "Cw w 0 1 ic={w0}",
            f"Bw 0 w I={rate}",
            "Bg p n I=v(p,n)*(gmin+(gmax-gmin)*min(max(v(w),0),1))",
            f".ends {SUBCKT}"]


def state_node(i: int, j: int) -> str:
    """Top-level node of cell (i, j)'s state."""
    return f"w{i}_{j}"


def factor_wave(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, V) of a cycle-to-cycle factor: 1 V, then ``values[k]`` from :data:`F_LEAD` before
    ``times[k]`` (the spike of update k, crossbar seconds) until the next update."""
    ts, vs = [0.0], [1.0]
    for t, v in zip(np.asarray(times, np.float64), np.asarray(values, np.float64), strict=True):
        a, b = t - F_LEAD, t - F_LEAD / 2
        if a <= ts[-1]:  # too close to the last switch: replace the value there
            vs[-1] = float(v)
            continue
        ts += [a, b]
        vs += [vs[-1], float(v)]
    return np.array(ts), np.array(vs)


def crossbar_lines(rows: Sequence[tuple[np.ndarray, np.ndarray]],
                   cols: Sequence[tuple[np.ndarray, np.ndarray]],
                   cells: np.ndarray, r_wire: float,
                   factors: np.ndarray | None = None) -> list[str]:
    """Sources, wires and cell instances of a ``len(rows) x len(cols)`` passive crossbar.

    ``rows[i]`` / ``cols[j]`` are (t, V) breakpoints of the waveforms driven onto row i and
    column j; ``cells[i, j]`` is a dict of instance parameters of cell (i, j) (its ``w0`` and
    any per-device value); ``factors[i, j]``, if given, the (t, V) breakpoints of its
    cycle-to-cycle factor (:func:`factor_wave`), else every cell's factor node sits at 1 V.
    With ``r_wire == 0`` the wires are ideal (no resistors)."""
    n_r, n_c = len(rows), len(cols)
    out = [] if factors is not None else ["Vone one 0 1"]
    for i, (t, v) in enumerate(rows):
        out.append(f"Vrow{i} rin{i} 0 {pwl(t, v)}")
    for j, (t, v) in enumerate(cols):
        out.append(f"Vcol{j} cin{j} 0 {pwl(t, v)}")
    for i in range(n_r):
        for j in range(n_c):
            row_node, col_node = f"r{i}_{j}", f"c{i}_{j}"
            if r_wire > 0:
                left = f"rin{i}" if j == 0 else f"r{i}_{j - 1}"
                above = f"cin{j}" if i == 0 else f"c{i - 1}_{j}"
                out += [f"Rr{i}_{j} {left} {row_node} {number(r_wire)}",
                        f"Rc{i}_{j} {above} {col_node} {number(r_wire)}"]
            else:
                row_node, col_node = f"rin{i}", f"cin{j}"
            inst = " ".join(f"{identifier(k)}={number(x)}" for k, x in sorted(cells[i, j].items()))
            f_node = "one"
            if factors is not None:
                f_node = f"f{i}_{j}"
                out.append(f"Vf{i}_{j} {f_node} 0 {pwl(*factors[i, j])}")
            out.append(f"X{i}_{j} {row_node} {col_node} {state_node(i, j)} {f_node} {SUBCKT} "
                       f"{inst}")
    return out


def netlist_text(model: DeviceModel, scheme: PulseScheme, pre: Sequence[np.ndarray],
                 post: Sequence[np.ndarray], x0: np.ndarray, *,
                 rate_factor: np.ndarray | None = None, g_min: np.ndarray | None = None,
                 g_max: np.ndarray | None = None, r_wire: float = Electrical().r_wire,
                 c2c: np.ndarray | None = None,
                 header: Mapping[str, object] | None = None) -> str:
    """The transient netlist of a ``len(pre) x len(post)`` crossbar imprinting spike trains.

    ``pre[i]`` / ``post[j]`` are the spike times (recording seconds) of row i's and column j's
    neuron; each becomes its line's waveform (:meth:`PulseScheme.train`, crossbar seconds).
    Per cell: initial state ``x0``, device-to-device ``rate_factor`` and bounds ``g_min`` /
    ``g_max`` (default: the model's) and, optionally, ``c2c[i, j]`` = (update spike times in
    recording seconds, cycle-to-cycle factors) of its updates. Also written: every parameter as a
    comment, ``.save`` of the state nodes only, one ``.measure`` per state of its final value
    and the ``.tran`` card (``uic``: the states start at their initial values; the step is
    left to ngspice, which lands on every PWL corner and bounds the state's truncation
    error)."""
    n_r, n_c = len(pre), len(post)
    last = max((float(np.max(s)) for s in [*pre, *post] if len(s)), default=0.0)
    t_stop = last / scheme.speedup + 2 * scheme.length
    rows = [scheme.train(np.asarray(s, np.float64) / scheme.speedup, t_stop) for s in pre]
    cols = [scheme.train(np.asarray(s, np.float64) / scheme.speedup, t_stop) for s in post]
    factors = None
    if c2c is not None:
        factors = np.empty((n_r, n_c), object)
        for i in range(n_r):
            for j in range(n_c):
                t, f = c2c[i, j]
                factors[i, j] = factor_wave(np.asarray(t, np.float64) / scheme.speedup, f)
    params = {f"scheme.{k}": v for k, v in scheme.table().items()}
    return waveform_netlist(model, rows, cols, t_stop, x0=x0, rate_factor=rate_factor,
                            g_min=g_min, g_max=g_max, r_wire=r_wire, factors=factors,
                            header={**params, **(header or {})})


def waveform_netlist(model: DeviceModel, rows: Sequence[tuple[np.ndarray, np.ndarray]],
                     cols: Sequence[tuple[np.ndarray, np.ndarray]], t_stop: float, *,
                     x0: np.ndarray | float = 0.0, rate_factor: np.ndarray | None = None,
                     g_min: np.ndarray | None = None, g_max: np.ndarray | None = None,
                     r_wire: float = Electrical().r_wire, factors: np.ndarray | None = None,
                     header: Mapping[str, object] | None = None) -> str:
    """The transient netlist of a ``len(rows) x len(cols)`` crossbar whose lines carry the
    given (t, V) waveforms (crossbar seconds): :func:`netlist_text` for spike trains, the
    ``--drive vm`` proof for row boxes and binned column traces. Per cell as there; the run
    stops at ``t_stop``."""
    n_r, n_c = len(rows), len(cols)
    shape = (n_r, n_c)
    per_cell = {"w0": x0,
                "kf": np.ones(shape) if rate_factor is None else rate_factor,
                "gmin": np.full(shape, model.g_min) if g_min is None else g_min,
                "gmax": np.full(shape, model.g_max) if g_max is None else g_max}
    cells = np.empty(shape, object)
    for i in range(n_r):
        for j in range(n_c):
            cells[i, j] = {k: float(np.broadcast_to(v, shape)[i, j]) for k, v in per_cell.items()}
    nodes = [state_node(i, j) for i in range(n_r) for j in range(n_c)]
    params = {**{f"model.{k}": v for k, v in model.table().items()},
              "r_wire": r_wire, "t_stop": t_stop, **(header or {})}
    lines = [TITLE, "* generated by neuropaste; cell (i, j): state v(wI_J), G = gmin + (gmax - "
             "gmin) * clip(state, 0, 1)"]
    lines += [f"* {comment(k)} = {comment(v)}" for k, v in sorted(params.items())]
    lines += [OPTIONS, *model_subckt(model), *crossbar_lines(rows, cols, cells, r_wire, factors),
              ".save " + " ".join(f"v({n})" for n in nodes)]
    lines += [f".measure tran {n} find v({n}) at={number(t_stop)}" for n in nodes]
    lines += [f".tran {number(t_stop / 1000)} {number(t_stop)} uic", ".end"]
    return "\n".join(lines) + "\n"


def final_states(vectors: Mapping[str, np.ndarray], n_rows: int, n_cols: int) -> np.ndarray:
    """The state of every cell at the end of the run, from the vectors ngspice returned."""
    out = np.empty((n_rows, n_cols))
    for i in range(n_rows):
        for j in range(n_cols):
            vec = vectors.get(state_node(i, j))
            if vec is None or len(vec) == 0:
                raise RuntimeError(f"ngspice returned no state for cell ({i}, {j})")
            out[i, j] = float(vec[-1])
    return out
