"""``neuropaste copy``: a recording in, an edge list and its statistics out.

Both methods start from the same detected spikes. ``intracellular`` fits every channel's slope
on all lagged spike trains (``regress``); ``spikes`` tests spike-train cross-correlograms only
(``baseline``). Each pair gets a two-sided p-value and Benjamini-Hochberg at ``fdr`` picks the
connections. The intracellular z-scores are put on an empirical null first (Efron 2004): per
postsynaptic channel, centre and spread are the median and MAD of its z-scores over all
presynaptic channels, since most pairs are not connected. The white-residual standard error is
exact for a connection-free recording but misjudges a channel whose residual is coloured
(recording noise makes the slope anti-correlated from bin to bin; unmodelled input makes it
wider); the per-channel empirical null absorbs both.

Weights are PSP amplitudes divided by the postsynaptic electrode's AP amplitude (dimensionless,
comparable across pads whatever their coupling); ``compile`` takes any weight unit. Electrical
couplings (significant lag-0 spikelets in both directions) become the two excitatory synapses of
``docs/semantics.md``'s gap rule: weight ``gap_scale x g`` each way, delay 1.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from neuropaste.copy.baseline import BaselineOptions, ccg_test
from neuropaste.copy.detect import DetectOptions, Spikes, detect
from neuropaste.copy.fdr import bh_qvalues
from neuropaste.copy.regress import RegressOptions, fit, lag_windows, onset
from neuropaste.copy.responses import ResponseOptions, accumulate
from neuropaste.copy.score import score, score_gaps
from neuropaste.errors import InputError

METHODS = ("intracellular", "spikes")


@dataclass(frozen=True)
class CopyOptions:
    method: str = "intracellular"
    fdr: float = 0.05
    step_ms: float = 1.0
    gap_scale: float = 0.5
    gap_each_z: float = 1.645  # an electrical pair's weaker direction must reach this z
    latency_offset_bins: float = 1.0  # half-peak lag minus this = latency (see docs/copy.md)
    min_null_pairs: int = 10  # fewer presynaptic channels: theoretical null, no rescaling
    min_spikes: int = 10  # a channel with fewer spikes is not tested as presynaptic
    detect: DetectOptions = field(default_factory=DetectOptions)
    responses: ResponseOptions = field(default_factory=ResponseOptions)
    regress: RegressOptions = field(default_factory=RegressOptions)
    baseline: BaselineOptions = field(default_factory=BaselineOptions)

    def check(self) -> None:
        if self.method not in METHODS:
            raise InputError(None, f"--method must be one of {', '.join(METHODS)}, "
                                   f"got {self.method!r}")
        if not 0.0 < self.fdr < 1.0:
            raise InputError(None, f"--fdr must be in (0, 1), got {self.fdr}")
        if not (self.step_ms > 0 and np.isfinite(self.step_ms)):
            raise InputError(None, f"--step-ms must be a positive number, got {self.step_ms}")


@dataclass(frozen=True)
class CopyResult:
    labels: tuple[str, ...]
    pre: np.ndarray
    post: np.ndarray
    sign: np.ndarray  # +1 / -1; electrical edges are +1 with kind "electrical"
    weight: np.ndarray
    delay: np.ndarray  # steps
    kind: list[str]
    stats: dict  # per-connection columns for the JSON
    gaps: list[dict]
    figures: dict  # run figures
    spikes: Spikes
    pair_q: np.ndarray  # (n, n) BH q-value of every ordered pair (1 on the diagonal)
    pair_sign: np.ndarray  # (n, n) the sign each pair was tested for


def empirical_null(z: np.ndarray, tested: np.ndarray,
                   min_pairs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z rescaled per post (column) by the median and MAD over its tested presynaptic rows
    (``tested``: neurons with enough spikes to be tested at all), the MAD floored at its
    median over posts; untested rows get z = 0."""
    n = z.shape[0]
    zz = np.where(tested[:, None], z.astype(np.float64), np.nan)
    np.fill_diagonal(zz, np.nan)
    if int(tested.sum()) - 1 < min_pairs:
        return np.nan_to_num(zz), np.zeros(n), np.ones(n)
    med = np.nanmedian(zz, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(zz - med), axis=0)
    mad = np.where(mad > 1e-9, mad, 1.0)
    # a post's MAD from a few dozen pairs is itself noisy: never narrower than the typical
    # post's, so an underestimated spread cannot turn noise into discoveries
    mad = np.maximum(mad, np.median(mad))
    return np.nan_to_num((zz - med) / mad), med, mad


def _select(p_up: np.ndarray, p_down: np.ndarray, fdr: float):
    """BH per sign over the off-diagonal pairs, so the excitatory and the inhibitory map each
    hold the false discovery rate: (chosen mask, sign, one-sided p, q) as matrices."""
    n = p_up.shape[0]
    off = ~np.eye(n, dtype=bool)
    sign = np.where(p_up <= p_down, 1, -1)
    p = np.where(sign > 0, p_up, p_down)
    q = np.ones((n, n))
    for s, ps in ((1, p_up), (-1, p_down)):
        qs = np.ones((n, n))
        qs[off] = bh_qvalues(ps[off])
        q = np.where(sign == s, qs, q)
    return (q <= fdr) & off, sign, p, q


def copy_recording(rec, opts: CopyOptions, truth=None) -> CopyResult:
    opts.check()
    n = rec.n_channels
    spikes = detect(rec, opts.detect)
    resp = accumulate(rec, spikes, opts.responses)
    bin_ms = resp.bin_samples / rec.rate * 1e3
    ap = spikes.ap_mV
    figures = {
        "channels": n, "rate_hz": rec.rate, "seconds": rec.n_samples / rec.rate,
        "spikes": int(len(spikes.sample)),
        "mean_rate_hz": float(len(spikes.sample) / n / max(rec.n_samples / rec.rate, 1e-9)),
        "silent_channels": int((spikes.counts(n) == 0).sum()),
        "ap_mV_percentiles_5_50_95": _pct(ap), "bin_ms": bin_ms,
        "masked_fraction_median": float(np.median(resp.masked_fraction)),
    }
    gaps: list[dict] = []
    if opts.method == "intracellular":
        f = fit(resp, opts.regress)
        tested = spikes.counts(n) >= opts.min_spikes
        nulls = [empirical_null(z, tested, opts.min_null_pairs) for z in f.z]
        zs = np.stack([x[0] for x in nulls])
        med, mad = nulls[0][1], nulls[0][2]
        m = len(zs)  # best of m shapes per pair, Bonferroni
        up, down = np.argmax(zs, axis=0), np.argmin(zs, axis=0)
        z_up = np.take_along_axis(zs, up[None], 0)[0]
        z_down = np.take_along_axis(zs, down[None], 0)[0]
        chosen, sign, p, q = _select(np.minimum(1.0, m * ndtr(-z_up)),
                                     np.minimum(1.0, m * ndtr(z_down)), opts.fdr)
        best = np.where(sign > 0, up, down)
        z = np.where(sign > 0, z_up, z_down)
        amp = np.take_along_axis(f.amp, best[None], 0)[0]
        del zs, nulls
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = amp / ap[None, :]
        norm = np.nan_to_num(norm)
        figures["templates"] = {"windows": [list(w) for w in lag_windows(opts.regress)],
                                "weights": f.templates.tolist()}
        figures["tested_presynaptic"] = int(tested.sum())
        figures["null_scale_percentiles_5_50_95"] = _pct(mad)
        figures["null_centre_percentiles_5_50_95"] = _pct(med)
        amp_mV = amp
        gz, _, _ = empirical_null(f.gap_z, tested, opts.min_null_pairs)
        gaps, gap_edges = _gaps(gz, f.gap, ap, opts)
        score_name = "z"
    else:
        c = ccg_test(resp.spike_bin, resp.spike_channel, n, resp.n_bins + 1, opts.baseline)
        chosen, sign, p, q = _select(c.p_up, c.p_down, opts.fdr)
        counts = np.maximum(spikes.counts(n), 1).astype(np.float64)
        norm = (c.observed - c.expected) / counts[:, None]  # excess spikes per pre spike
        latency_bins = c.latency_bins.astype(np.float64)
        z = (c.observed - c.expected) / np.sqrt(np.maximum(c.expected, 1e-12))
        amp_mV = np.full((n, n), np.nan)
        gap_edges = []
        score_name = "excess_over_sqrt_expected"
    for g in gaps:  # the reset crossing a gap junction reads as inhibition: the coupling
        a, b = g["a"], g["b"]  # explains it, so no chemical edge is kept on an electrical pair
        g["chemical_dropped"] = int(chosen[a, b]) + int(chosen[b, a])
        chosen[a, b] = chosen[b, a] = False
    pre, post = np.nonzero(chosen)
    if opts.method == "intracellular":
        lat = onset(resp, pre, post, sign[pre, post]) - opts.latency_offset_bins
    else:
        lat = latency_bins[pre, post]
    latency_ms = np.maximum(lat, 0.0) * bin_ms
    delay = np.maximum(1, np.rint(latency_ms / opts.step_ms)).astype(np.int64)
    stats = {
        "pre": [rec.labels[i] for i in pre.tolist()],
        "post": [rec.labels[j] for j in post.tolist()],
        "sign": sign[pre, post].astype(int).tolist(),
        "weight": norm[pre, post].tolist(),
        "amplitude_mV": [None if not np.isfinite(x) else x for x in amp_mV[pre, post].tolist()],
        "latency_ms": latency_ms.tolist(),
        "delay_steps": delay.tolist(),
        score_name: z[pre, post].tolist(),
        "p": p[pre, post].tolist(),
        "q": q[pre, post].tolist(),
    }
    figures["found"] = {"excitatory": int((sign[pre, post] > 0).sum()),
                        "inhibitory": int((sign[pre, post] < 0).sum()),
                        "electrical_pairs": len(gaps)}
    e_pre = np.concatenate([pre, np.array([a for a, _, _ in gap_edges], np.int64)])
    e_post = np.concatenate([post, np.array([b for _, b, _ in gap_edges], np.int64)])
    e_w = np.concatenate([norm[pre, post], np.array([w for _, _, w in gap_edges])])
    e_d = np.concatenate([delay, np.ones(len(gap_edges), np.int64)])
    e_s = np.concatenate([sign[pre, post], np.ones(len(gap_edges), np.int64)])
    kind = ["chemical"] * len(pre) + ["electrical"] * len(gap_edges)
    if truth is not None:
        figures["truth"] = score(n, pre, post, sign[pre, post], norm[pre, post], truth)
        if opts.method == "intracellular" and (truth.sign == 0).any():
            figures["truth"]["electrical"] = score_gaps(
                [(g["a"], g["b"]) for g in gaps], truth)
    return CopyResult(tuple(rec.labels), e_pre, e_post, e_s, e_w, e_d, kind, stats, gaps,
                      figures, spikes, q, sign)


def _pct(x: np.ndarray) -> list[float | None]:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return [float(v) for v in np.percentile(x, [5, 50, 95])] if len(x) else [None] * 3


def _gaps(gz: np.ndarray, gap: np.ndarray, ap: np.ndarray, opts: CopyOptions):
    """Unordered pairs with a positive lag-0 coupling significant in both directions."""
    n = gz.shape[0]
    a, b = np.triu_indices(n, 1)
    # combined (Stouffer), and each direction on its own at least nominally (one-sided 5 %):
    # a strong one-way chemical PSP with a 1 ms delay leaks into lag 0 in its own direction
    zmin = (gz[a, b] + gz[b, a]) / np.sqrt(2.0)
    weaker = np.minimum(gz[a, b], gz[b, a])
    p = np.where(weaker > opts.gap_each_z, ndtr(-zmin), 1.0)
    q = bh_qvalues(p)
    ok = q <= opts.fdr
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 0.5 * (gap[a, b] / ap[b] + gap[b, a] / ap[a])
    gaps, edges = [], []
    for i, j, s, pz, qq in zip(a[ok].tolist(), b[ok].tolist(), g[ok].tolist(),
                               zmin[ok].tolist(), q[ok].tolist(), strict=True):
        gaps.append({"a": i, "b": j, "coupling": s, "z": pz, "q": qq})
        w = opts.gap_scale * s
        edges += [(i, j, w), (j, i, w)]
    return gaps, edges


# ---------------------------------------------------------------------------- outputs


def json_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".copy.json")


def write_outputs(result: CopyResult, opts: CopyOptions, out: str | os.PathLike,
                  recording: str, truth_path: str | None) -> tuple[Path, Path]:
    """MAP.csv (pre,post,weight,delay) and MAP.copy.json, each replaced atomically."""
    from neuropaste.outputs import write_json

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["pre", "post", "weight", "delay"])
    labels = result.labels
    w.writerows((labels[a], labels[b], repr(float(x)), int(d)) for a, b, x, d in zip(
        result.pre.tolist(), result.post.tolist(), result.weight.tolist(),
        result.delay.tolist(), strict=True))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    gaps = [dict(g, a=labels[g["a"]], b=labels[g["b"]]) for g in result.gaps]
    doc = {
        "neuropaste_copy": 1,
        "recording": os.path.basename(recording),
        "truth": None if truth_path is None else os.path.basename(truth_path),
        "parameters": asdict(opts),
        "weight_unit": ("PSP amplitude / postsynaptic AP amplitude" if opts.method ==
                        "intracellular" else "excess postsynaptic spikes per presynaptic spike"),
        "figures": result.figures,
        "connections": result.stats,
        "electrical": gaps,
        "ap_mV": {lab: (None if not np.isfinite(v) else float(v)) for lab, v in zip(
            labels, result.spikes.ap_mV.tolist(), strict=True)},
    }
    jp = json_path(out)
    write_json(jp, doc)
    os.replace(tmp, out)
    return out, jp
