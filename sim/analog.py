"""The network with the crossbar in the loop: docs/fidelity.md.

Every step the (pre, delay) rows whose neuron spiked at ``t - d`` are switched on in every
tile that holds them; the column currents go through the read path (programmed conductances,
device spread, drift, read noise, wire IR drop and access transistor, sense amplifier and
ADC), the ADC codes become each neuron's integer synaptic input, and the LIF update is the
reference model's own (:func:`neuropaste.reference.lif_update`).

Layer 2: takes arrays (the tile store, the device, the network), not file names.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from neuropaste.devices import Device, Electrical, Encoding, weight_levels, weight_per_level
from neuropaste.events import Raster, Stimulus
from neuropaste.ir import Network
from neuropaste.reference import lif_update
from neuropaste.sim.solver import row_alone_conductance, solve_tile


@dataclass(frozen=True)
class ReadPath:
    """How the tiles are programmed and read. ``ideal``: the stored conductances as they are,
    Sigma G V_read (no residual, noise, drift, wire R, an ideal switch) and an ADC with one LSB
    per digit step that never clips; every other field is then ignored."""

    ideal: bool = False
    spread: bool = True  # cells are not exact: the verify residual (or, without verify, d2d)
    verify: bool = True  # program-and-verify: each cell ends within the tolerance band
    read_sigma: float = 0.01  # relative sigma of one cell's current per read
    age_s: float = 0.0  # seconds since programming: G = G0 (t / t0) ** -nu for t > t0
    drift_reference: bool = True  # a reference column per tile rescales reads (drift)
    adc_bits: int | None = None  # None: enough bits for one LSB = one digit step
    adc_offset_lsb: float = 0.0  # sense amplifier + ADC offset, in LSB, before rounding
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Readout:
    """The tiles as the loop reads them: effective conductances and the ADC's scale."""

    g_eff: np.ndarray  # T x R x C, S: current per V_read of each cell with its row alone on
    g_read: np.ndarray  # T x R x C, S: the conductances read (after programming and drift)
    row_pre: np.ndarray  # T x R
    row_delay: np.ndarray  # T x R
    col_post: np.ndarray  # T x P
    weight_of_pair: np.ndarray  # T x P: significance of each pair, digits ** slice
    v_read: float
    i_digit: float  # A of differential current that is one digit step, as the ADC is scaled
    lsb_shift: int  # one ADC LSB = 2 ** lsb_shift digit steps
    adc_bits: int
    full_scale_digits: int  # largest |sum| one differential pair can read, digit steps
    per_level: float  # weight units per level of the level map (1/m when lossless)
    programming: dict[str, Any]
    path: ReadPath

    @property
    def lsb(self) -> int:
        return 1 << self.lsb_shift

    def scaling(self) -> dict[str, Any]:
        return {"i_digit_A": self.i_digit, "adc_bits": self.adc_bits,
                "lsb_digit_steps": self.lsb, "full_scale_digit_steps": self.full_scale_digits,
                "weight_units_per_level": self.per_level,
                "offset_lsb": 0.0 if self.path.ideal else self.path.adc_offset_lsb,
                "programming": self.programming,
                "read_model": "ideal sum G V_read" if self.path.ideal else
                "linearised per tile: each row's cell currents with that row alone on "
                "(solver.row_alone_conductance), superposed"}


def level_map_lossless(weight: np.ndarray, w_max: int, dev: Device,
                       enc: Encoding | None = None) -> bool:
    """Whether every weight is a whole number of levels (k * per_level == |w|). Only then can
    ideal reads reproduce the reference."""
    w = np.abs(np.asarray(weight, np.int64))
    k = np.abs(weight_levels(w, int(w_max), dev, enc))
    return bool(np.all(k * weight_per_level(int(w_max), dev, enc) == w))


def read_patterns(rd: Readout, raster: Raster) -> np.ndarray:
    """steps x T x R: the rows a raster switches on (row (pre, d) at t when pre spiked at
    t - d)."""
    return _active_rows(rd, _dense(raster))


def _program(g: np.ndarray, used: np.ndarray, dev: Device, el: Electrical, path: ReadPath,
             programming: str, tolerance: float, rng: np.random.Generator
             ) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Targets -> the conductances the cells hold after programming, and the scale ``alpha``
    of the effective level step that in-array verify could reach everywhere.

    ``cell``: the stored value hits the target. ``predistort``: the target is raised for the
    access transistor's on resistance, G' = 1 / (1 / G - R_on). ``in-array``: verify reads each
    cell through its read line and column with its row alone on, so the single-row current
    hits floor + alpha (G - floor) (alpha < 1 when a cell far from the drivers cannot reach
    the top level). The verify residual is uniform within +-tolerance level steps; a binary
    cell (set or reset) keeps its device-to-device spread instead, as does every cell
    programmed without verify."""
    cpw = dev.cells_per_weight
    floor, cap = cpw * dev.g_min, cpw * dev.g_max
    d_g = dev.level_step
    target = g
    residual = np.zeros_like(g)
    binary = dev.levels == 2  # a binary cell is set or reset: no band to verify into
    if path.spread and path.verify and not binary:
        residual = rng.uniform(-tolerance, tolerance, g.shape) * d_g
    info: dict[str, Any] = {"mode": programming, "tolerance_levels": tolerance
                            if path.spread and path.verify and not binary else 0.0}
    alpha = 1.0
    if binary and programming != "cell":
        info["note"] = ("a binary cell is set or reset, never tuned: the programming mode "
                        "cannot compensate it")
        programming = "cell"
    if programming == "in-array" and el.r_wire > 0:
        # every tile has the same geometry: one tile of cells at the top tells what reaches
        rho = row_alone_conductance(np.full_like(g[:1], cap), el, cpw)[0] / cap
        rho = np.where(used.any(axis=0)[:, None], rho, 1.0)
        alpha = float(min(1.0, ((cap * rho - floor) / (cap - floor)).min()))
        want = floor + alpha * (target - floor) + residual
        stored = want.copy()
        passes = 0
        while True:  # fixed point: the verify loop's pulses, as solver passes
            got = row_alone_conductance(stored, el, cpw, used)
            err = np.abs(got - want)[used].max(initial=0.0)
            passes += 1
            if err < 1e-3 * d_g or passes == 8:  # a thousandth of a level step of every target
                break
            stored = np.clip(np.divide(stored * want, got, out=want.copy(), where=got > 0),
                             0, cap)  # rows never read (got 0) stay at their target
        info.update(alpha=alpha, fixed_point_error_levels=float(err / d_g),
                    fixed_point_passes=passes)
    elif programming == "predistort":
        vov = el.v_gate - el.vto
        r_on = 1.0 / (el.beta * cpw * vov)
        want = target + residual
        stored = np.clip(1.0 / np.maximum(1.0 / want - r_on, 1.0 / cap), 0, cap)
        info.update(r_on_ohm=r_on, clipped=int((1.0 / want - r_on <= 1.0 / cap).sum()))
    else:
        stored = target + residual
    if path.spread and (binary or not path.verify) and dev.d2d_sigma > 0:
        stored = stored * rng.lognormal(0.0, dev.d2d_sigma, g.shape)
        info["d2d_sigma"] = dev.d2d_sigma
    return stored, alpha, info


def prepare(tiles: dict[str, np.ndarray], dev: Device, el: Electrical, w_max: int,
            path: ReadPath, enc: Encoding | None = None, programming: str = "cell",
            tolerance: float = 0.5) -> Readout:
    """Programmed conductances -> what each read sees, and the ADC scale.

    ``w_max`` is the network's largest |weight|; ``enc``, ``programming`` and ``tolerance``
    are the compile's (tiles.json)."""
    enc = enc or Encoding()
    g = np.asarray(tiles["g"], np.float64)
    row_pre = np.asarray(tiles["row_pre"], np.int64)
    row_delay = np.asarray(tiles["row_delay"], np.int64)
    col_post = np.asarray(tiles["col_post"], np.int64)
    col_slice = np.asarray(tiles.get("col_slice", np.zeros_like(col_post)), np.int64)
    if g.ndim != 3 or g.shape[0] == 0:
        raise ValueError("the tile store holds no tiles")
    if path.adc_bits is not None and path.adc_bits < 1:
        raise ValueError(f"the ADC needs at least 1 bit, got {path.adc_bits}")
    used = row_pre >= 0
    d_g = dev.level_step
    i_digit = el.v_read * d_g * enc.step(dev)
    g_read, prog = g, {"mode": "ideal"}
    if not path.ideal:
        rng = np.random.default_rng(path.seed)
        g_read, alpha, prog = _program(g, used, dev, el, path, programming, tolerance, rng)
        i_digit *= alpha
        if path.age_s > dev.drift_t0 and dev.drift_nu > 0:
            factor = (path.age_s / dev.drift_t0) ** (-dev.drift_nu)
            g_read = g_read * factor
            if path.drift_reference:
                # a reference column of R cells at G_max per tile, read with the tile: the
                # ADC's scale follows its current (read noise of R cells averaged)
                est = factor * (1 + path.read_sigma / math.sqrt(g.shape[1])
                                * rng.standard_normal())
                i_digit *= est
                prog["drift_reference"] = {"true_factor": factor, "estimated": est}
            else:
                prog["drift_reference"] = None
    if path.ideal or el.r_wire == 0:
        g_eff = g_read.copy()
    else:
        g_eff = row_alone_conductance(g_read, el, dev.cells_per_weight, used)
    # full scale: the largest differential read a pair can give, every row of its tile on
    diff = np.where(used[:, :, None], g[:, :, 0::2] - g[:, :, 1::2], 0.0) / (d_g * enc.step(dev))
    fs = int(np.ceil(max(diff.clip(min=0).sum(axis=1).max(),
                         (-diff).clip(min=0).sum(axis=1).max()) - 1e-9))
    need = max(1, math.ceil(math.log2(fs + 1))) + 1  # sign bit + magnitude bits
    bits = need if (path.ideal or path.adc_bits is None) else int(path.adc_bits)
    return Readout(g_eff=g_eff, g_read=g_read, row_pre=row_pre, row_delay=row_delay,
                   col_post=col_post, weight_of_pair=enc.digits(dev) ** col_slice,
                   v_read=el.v_read, i_digit=i_digit, lsb_shift=max(0, need - bits),
                   adc_bits=bits, full_scale_digits=fs,
                   per_level=weight_per_level(w_max, dev, enc), programming=prog, path=path)


def _adc(rd: Readout, i_cols: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """Column currents (..., T, C) -> each pair's reading in levels (..., T, P): the sense
    amplifier takes I+ - I-, the ADC rounds it to LSB codes with offset and clips to its
    range, and the die weighs the slice (a shift). ``tiles``: the tiles ``i_cols`` holds."""
    x = (i_cols[..., 0::2] - i_cols[..., 1::2]) / (rd.i_digit * rd.lsb)
    if not rd.path.ideal:
        x = x + rd.path.adc_offset_lsb
    hi = (1 << (rd.adc_bits - 1)) - 1
    return np.clip(np.rint(x), -hi - 1, hi).astype(np.int64) * rd.lsb * rd.weight_of_pair[tiles]


def die_input(rd: Readout, levels: np.ndarray) -> np.ndarray:
    """A neuron's summed levels -> its integer synaptic input: x per_level, rounded half up
    (a right shift when the map is lossless, a constant multiply when it is not)."""
    return np.floor(np.asarray(levels, np.float64) * rd.per_level + 0.5).astype(np.int64)


def _read(rd: Readout, active: np.ndarray, rng: np.random.Generator | None, n: int
          ) -> np.ndarray:
    """One step's synaptic input of every neuron (levels) for ``active`` (T x R) rows.

    Only tiles with an active row are read (the router knows which tiles it drove). Each
    read is the superposition of its active rows' cell currents plus read noise (the sum of
    independent per-cell Gaussians, drawn as one per column with the summed variance)."""
    t_idx, r_idx = np.nonzero(active)
    if not len(t_idx):
        return np.zeros(n, np.int64)
    tiles, which = np.unique(t_idx, return_inverse=True)
    pick = sp.csr_matrix((np.ones(len(t_idx)), (which, np.arange(len(t_idx)))),
                         shape=(len(tiles), len(t_idx)))
    rows = rd.g_eff[t_idx, r_idx]
    i = (pick @ rows) * rd.v_read
    if rng is not None and rd.path.read_sigma > 0:
        var = pick @ (rows * rows)
        i = i + rd.path.read_sigma * rd.v_read * np.sqrt(var) * rng.standard_normal(i.shape)
    codes = _adc(rd, i, tiles)
    post = rd.col_post[tiles]
    keep = post >= 0
    return np.bincount(post[keep], weights=codes[keep], minlength=n).astype(np.int64)


def _dense(raster: Raster) -> np.ndarray:
    s = np.zeros((raster.steps, raster.n_neurons), bool)
    s[raster.step, raster.neuron] = True
    return s


def _external(net: Network, stimulus: Stimulus, steps: int) -> np.ndarray:
    """bias + s_in e_j(t) of every (step, neuron), several events counting once."""
    e = np.zeros((steps, net.n_neurons), bool)
    keep = stimulus.step < steps
    e[stimulus.step[keep], stimulus.neuron[keep]] = True
    return net.bias.astype(np.int64)[None, :] + int(net.stim_weight) * e.astype(np.int64)


def exact_synaptic(net: Network, spikes: np.ndarray) -> np.ndarray:
    """The network's exact integer synaptic input (steps x n) for a dense spike raster: per
    delay, the sparse product of the raster with that delay's weight matrix."""
    steps, n = spikes.shape
    out = np.zeros((steps, n), np.int64)
    fired = sp.csr_matrix(spikes.astype(np.int64))
    for d in range(1, int(net.max_delay) + 1):
        sel = net.delay == d
        if not sel.any() or d >= steps:
            continue
        w = sp.csr_matrix((net.weight[sel].astype(np.int64), (net.pre[sel], net.post[sel])),
                          shape=(n, n))  # duplicates are summed, as the reference sums them
        out[d:] += (fired[:-d] @ w).toarray()
    return out


def _active_rows(rd: Readout, spikes: np.ndarray) -> np.ndarray:
    """steps x T x R: row (pre, d) is on at t when pre spiked at t - d."""
    return np.stack([_active_at(rd, spikes, t) for t in range(spikes.shape[0])]) \
        if spikes.shape[0] else np.zeros((0, *rd.row_pre.shape), bool)


def _active_at(rd: Readout, spikes: np.ndarray, t: int) -> np.ndarray:
    """T x R: the rows on at step t, from a dense raster of the steps before it."""
    pre, dly = rd.row_pre, rd.row_delay
    ok = (pre >= 0) & (dly <= t) & (dly >= 1)
    src = np.where(ok, t - dly, 0)
    return ok & spikes[src, np.where(ok, pre, 0)]


def analog_inputs(rd: Readout, spikes: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Open loop: each step's synaptic input read from the crossbar for a given raster."""
    rng = None if rd.path.ideal else np.random.default_rng(seed + 1)
    out = np.zeros((spikes.shape[0], n), np.int64)
    for t in range(spikes.shape[0]):
        out[t] = die_input(rd, _read(rd, _active_at(rd, spikes, t), rng, n))
    return out


@numba.njit(cache=True, nogil=True)
def _open_loop(exact, analog, threshold, v_reset, leak_shift, refractory, v_min, v_max):
    """Run the reference state on exact inputs; at each (step, neuron) also decide with the
    analog input from the same state. Returns the reference spikes and the flip mask."""
    steps, n = exact.shape
    v = np.zeros(n, np.int64)
    r = np.zeros(n, np.int64)
    spk = np.zeros((steps, n), np.bool_)
    flip = np.zeros((steps, n), np.bool_)
    for t in range(steps):
        for j in range(n):
            args = (threshold[j], v_reset[j], leak_shift[j], refractory[j], v_min, v_max)
            _, _, a = lif_update(v[j], r[j], analog[t, j], *args)
            v[j], r[j], s = lif_update(v[j], r[j], exact[t, j], *args)
            spk[t, j] = s
            flip[t, j] = a != s
    return spk, flip


@numba.njit(cache=True, nogil=True)
def _lif_step(inp, v, r, threshold, v_reset, leak_shift, refractory, v_min, v_max, out):
    for j in range(inp.shape[0]):
        v[j], r[j], out[j] = lif_update(v[j], r[j], inp[j], threshold[j], v_reset[j],
                                        leak_shift[j], refractory[j], v_min, v_max)


def _lif_args(net: Network) -> tuple:
    return (net.threshold.astype(np.int64), net.v_reset.astype(np.int64),
            net.leak_shift.astype(np.int64), net.refractory.astype(np.int64),
            int(net.v_min), int(net.v_max))


def run_closed(net: Network, rd: Readout, steps: int, stimulus: Stimulus) -> Raster:
    """The network run freely with every synaptic input read from the crossbar."""
    n = net.n_neurons
    ext = _external(net, stimulus, steps)
    rng = None if rd.path.ideal else np.random.default_rng(rd.path.seed + 2)
    pre, dly = rd.row_pre, rd.row_delay
    used = (pre >= 0) & (dly >= 1)
    pre_c = np.where(used, pre, 0)
    n_hist = int(dly[used].max(initial=1)) + 1
    hist = np.zeros((n_hist, n), bool)  # hist[t % n_hist]: spikes of step t
    v = np.zeros(n, np.int64)
    r = np.zeros(n, np.int64)
    spiked = np.zeros(n, np.bool_)
    lif = _lif_args(net)
    steps_out, neurons_out = [], []
    for t in range(steps):
        src = (t - dly) % n_hist
        active = used & (dly <= t) & hist[src, pre_c]
        inp = die_input(rd, _read(rd, active, rng, n)) + ext[t]
        _lif_step(inp, v, r, *lif, spiked)
        hist[t % n_hist] = spiked
        idx = np.flatnonzero(spiked)
        steps_out.append(np.full(len(idx), t, np.int64))
        neurons_out.append(idx.astype(np.int64))
    return Raster(step=np.concatenate(steps_out) if steps_out else np.zeros(0, np.int64),
                  neuron=np.concatenate(neurons_out) if neurons_out else np.zeros(0, np.int64),
                  steps=int(steps), n_neurons=n)


def open_loop(net: Network, rd: Readout, reference: Raster, stimulus: Stimulus) -> dict:
    """Feed the reference's own spikes into the crossbar every step and compare each input
    with the exact one, and each fire/no-fire decision taken from the reference state."""
    spikes = _dense(reference)
    steps, n = spikes.shape
    exact_syn = exact_synaptic(net, spikes)
    analog_syn = analog_inputs(rd, spikes, n, rd.path.seed)
    ext = _external(net, stimulus, steps)
    ref_spk, flip = _open_loop(exact_syn + ext, analog_syn + ext, *_lif_args(net))
    if not np.array_equal(ref_spk, spikes):
        raise RuntimeError("the exact synaptic input does not reproduce the reference raster")
    err = analog_syn - exact_syn
    keys, counts = np.unique(np.clip(err, -20, 20), return_counts=True)
    histogram = [[int(k), int(c)] for k, c in zip(keys, counts, strict=True)]
    bad = np.argwhere(err != 0)
    return {
        "inputs": int(err.size),
        "lsb_exact_fraction": float((err == 0).mean()),
        "error_lsb": {"mean": float(err.mean()), "mean_abs": float(np.abs(err).mean()),
                      "rms": float(np.sqrt((err.astype(np.float64) ** 2).mean())),
                      "max_abs": int(np.abs(err).max(initial=0)),
                      "histogram_clipped_to_20": histogram,
                      "histogram_note": "[error in LSB, count], errors clipped to +-20"},
        "decisions_flipped_fraction": float(flip.mean()),
        "decisions_flipped": int(flip.sum()),
        "first_error": None if not len(bad) else {"step": int(bad[0][0]),
                                                   "neuron": int(bad[0][1]),
                                                   "error": int(err[tuple(bad[0])])},
        "error_by_neuron": np.abs(err).sum(axis=0),
    }


def closed_loop_figures(reference: Raster, analog: Raster, tau_steps: float = 5.0) -> dict:
    """Spike agreement of the free-running analog network with the reference."""
    a, b = _dense(reference), _dense(analog)
    steps = a.shape[0]
    both = int((a & b).sum())
    near_b = b.copy()
    near_b[1:] |= b[:-1]
    near_b[:-1] |= b[1:]
    near_a = a.copy()
    near_a[1:] |= a[:-1]
    near_a[:-1] |= a[1:]
    n_a, n_b = int(a.sum()), int(b.sum())
    rate = (b.sum(axis=0) - a.sum(axis=0)) / float(max(steps, 1))
    diff = np.flatnonzero((a != b).any(axis=1))
    out = {
        "reference_spikes": n_a, "analog_spikes": n_b,
        "recall_same_step": both / n_a if n_a else 1.0,
        "precision_same_step": both / n_b if n_b else 1.0,
        "recall_within_1_step": float((a & near_b).sum()) / n_a if n_a else 1.0,
        "precision_within_1_step": float((b & near_a).sum()) / n_b if n_b else 1.0,
        "rate_error_per_neuron": {"mean_abs": float(np.abs(rate).mean()),
                                  "max_abs": float(np.abs(rate).max(initial=0.0)),
                                  "mean": float(rate.mean()), "unit": "spikes per step"},
        "first_divergent_step": int(diff[0]) if len(diff) else None,
        "identical": not len(diff),
    }
    out["van_rossum"] = van_rossum(reference, analog, tau_steps)
    return out


def van_rossum(reference: Raster, analog: Raster, tau_steps: float) -> dict:
    """Mean over neurons of Elephant's van Rossum distance (one step = 1 ms, tau in steps)."""
    try:
        import neo
        import quantities as pq
        from elephant.spike_train_dissimilarity import van_rossum_distance
    except ImportError as err:  # pragma: no cover - Elephant is optional
        return {"available": False, "reason": f"Elephant not installed ({err})"}
    t_stop = reference.steps * pq.ms
    dist = np.zeros(reference.n_neurons)
    for j in range(reference.n_neurons):
        ta = reference.step[reference.neuron == j]
        tb = analog.step[analog.neuron == j]
        if not len(ta) and not len(tb):
            continue
        trains = [neo.SpikeTrain(ta * pq.ms, t_stop=t_stop),
                  neo.SpikeTrain(tb * pq.ms, t_stop=t_stop)]
        with warnings.catch_warnings():  # float round-off below zero, clipped by Elephant
            warnings.simplefilter("ignore", RuntimeWarning)
            dist[j] = van_rossum_distance(trains, time_constant=tau_steps * pq.ms)[0, 1]
    return {"available": True, "tau_steps": tau_steps, "mean": float(dist.mean()),
            "max": float(dist.max(initial=0.0)), "per_neuron_note": "distance per neuron in "
            "units of sqrt(spikes); 0 = identical trains"}


def linear_model_error(rd: Readout, dev: Device, el: Electrical, reference: Raster,
                       samples: int, seed: int) -> dict:
    """The linearised read against solve_tile on sampled (step, tile) read patterns of the
    reference raster: differential current error in digit steps (ADC LSB at full
    resolution), and ADC codes that differ."""
    if rd.path.ideal:
        return {"model": "ideal (exact by definition)", "samples": 0}
    spikes = _dense(reference)
    cand = [(t, k) for t in range(spikes.shape[0])
            for k in np.flatnonzero(_active_at(rd, spikes, t).any(axis=1))]
    rng = np.random.default_rng(seed + 3)
    pick = [cand[i] for i in sorted(rng.choice(len(cand), min(samples, len(cand)),
                                               replace=False))] if cand else []
    errs, code_diff = [], 0
    for t, k in pick:
        on = _active_at(rd, spikes, t)[k]
        full = solve_tile(rd.g_read[k], on, el, dev.cells_per_weight)
        lin = on.astype(np.float64) @ rd.g_eff[k] * rd.v_read
        dfull = (full[0::2] - full[1::2]) / rd.i_digit
        dlin = (lin[0::2] - lin[1::2]) / rd.i_digit
        errs.append(np.abs(dfull - dlin).max())
        code_diff += int((np.rint(dfull / rd.lsb) != np.rint(dlin / rd.lsb)).sum())
    errs_a = np.array(errs) if errs else np.zeros(1)
    return {"model": "linearised (each row alone on, superposed)",
            "samples": len(pick), "max_error_digit_steps": float(errs_a.max()),
            "mean_max_error_digit_steps": float(errs_a.mean()),
            "adc_codes_differing": code_diff,
            "pairs_compared": int(len(pick) * rd.col_post.shape[1])}
