"""A recovered map scored against ground truth: per sign, over all ordered pairs."""

from __future__ import annotations

import math

import numpy as np

#: PSP amplitude bins (mV) for recall as a function of size
PSP_BINS = (0.0, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5, math.inf)


def _mcc(tp: int, fp: int, fn: int, tn: int) -> float:
    den = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den else 0.0


def score(n: int, pre: np.ndarray, post: np.ndarray, sign: np.ndarray, weight: np.ndarray,
          truth) -> dict:
    """Figures for predicted chemical connections (pre, post, sign +-1, weight) vs a Truth."""
    pairs = n * (n - 1)
    pred = np.zeros((n, n), np.int8)
    pred[pre, post] = sign
    w = np.zeros((n, n))
    w[pre, post] = weight
    chem = truth.sign != 0
    true = np.zeros((n, n), np.int8)
    true[truth.pre[chem], truth.post[chem]] = truth.sign[chem]
    np.fill_diagonal(true, 0)
    out: dict = {"pairs": pairs, "true_connections": int((true != 0).sum()),
                 "found_connections": int((pred != 0).sum())}
    for s, name in ((1, "excitatory"), (-1, "inhibitory")):
        p, t = pred == s, true == s
        tp = int((p & t).sum())
        fp = int(p.sum()) - tp
        fn = int(t.sum()) - tp
        tn = pairs - tp - fp - fn
        out[name] = {"true": int(t.sum()), "found": int(p.sum()), "true_positives": tp,
                     "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
                     "mcc": _mcc(tp, fp, fn, tn)}
    hit = (pred != 0) & (true != 0)
    out["true_found_any_sign"] = int(hit.sum())
    out["sign_accuracy"] = float((pred[hit] == true[hit]).mean()) if hit.any() else 0.0
    tp_all = int(((pred == true) & (true != 0)).sum())
    out["precision"] = tp_all / max(int((pred != 0).sum()), 1)
    out["recall"] = tp_all / max(int((true != 0).sum()), 1)
    amp = np.full((n, n), np.nan)
    ok = chem & np.isfinite(truth.psp_mV)
    amp[truth.pre[ok], truth.post[ok]] = np.abs(truth.psp_mV[ok])
    both = hit & np.isfinite(amp)
    r = (float(np.corrcoef(np.abs(w[both]), amp[both])[0, 1]) if both.sum() > 2
         and np.ptp(w[both]) > 0 and np.ptp(amp[both]) > 0 else float("nan"))
    out["amplitude_correlation"] = r if math.isfinite(r) else None
    rows = []
    has = (true != 0) & np.isfinite(amp)
    for lo, hi in zip(PSP_BINS[:-1], PSP_BINS[1:], strict=True):
        inb = has & (amp >= lo) & (amp < hi)
        k = int(inb.sum())
        rows.append({"psp_mV": [lo, None if math.isinf(hi) else hi], "true": k,
                     "recall": float(((pred == true) & inb).sum() / k) if k else None})
    out["recall_by_psp"] = rows
    elec = truth.sign == 0
    if elec.any():
        out["electrical_true_pairs"] = int(len({(min(a, b), max(a, b)) for a, b in zip(
            truth.pre[elec].tolist(), truth.post[elec].tolist(), strict=True)}))
    return out


def score_gaps(pairs: list[tuple[int, int]], truth) -> dict:
    """Electrical couplings found (unordered pairs) vs the truth's sign-0 rows."""
    elec = truth.sign == 0
    true = {(min(a, b), max(a, b)) for a, b in zip(truth.pre[elec].tolist(),
                                                   truth.post[elec].tolist(), strict=True)}
    found = {(min(a, b), max(a, b)) for a, b in pairs}
    tp = len(true & found)
    return {"true": len(true), "found": len(found), "true_positives": tp,
            "precision": tp / max(len(found), 1), "recall": tp / max(len(true), 1)}


def text(figures: dict, method: str) -> list[str]:
    """The figures as a few stdout lines."""
    lines = [f"{method}: {figures['found_connections']} connections found, "
             f"{figures['true_connections']} true"]
    for name in ("excitatory", "inhibitory"):
        f = figures[name]
        lines.append(f"  {name}: precision {f['precision']:.3f} recall {f['recall']:.3f} "
                     f"MCC {f['mcc']:.3f} ({f['true_positives']}/{f['true']} found, "
                     f"{f['found']} reported)")
    ac = figures["amplitude_correlation"]
    lines.append(f"  sign accuracy {figures['sign_accuracy']:.3f}; amplitude correlation "
                 + ("n/a" if ac is None else f"{ac:.3f}"))
    lines.append("  recall by PSP (mV): " + ", ".join(
        f"{r['psp_mV'][0]}-{r['psp_mV'][1] or ''}: "
        + ("n/a" if r["recall"] is None else f"{r['recall']:.2f}") for r in
        figures["recall_by_psp"] if r["true"]))
    return lines
