"""The HTML report: one self-contained page (plots embedded), one section per check.

The page and the sections every report shares live here; each check's own section is the
``report_html`` of its module in ``verify/`` (see ``neuropaste.verify.CHECKS``)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neuropaste.events import Raster  # noqa: E402

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f4f4f4}.pass{color:#070;font-weight:bold}
.fail{color:#b00;font-weight:bold}img{max-width:100%}code{background:#f4f4f4;padding:0 .2em}
"""


def figure_png(fig) -> str:
    """An <img> tag with the figure inlined; no timestamp metadata, so the page is reproducible."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def table(rows: list[tuple[str, Any]] | dict[str, Any],
          header: tuple[str, str] | None = None) -> str:
    items = rows.items() if isinstance(rows, dict) else rows
    head = ""
    if header:
        head = f"<tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in items
    )
    return f"<table>{head}{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def raster_plot(raster: Raster, title: str, ax=None):
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(10, 4))
    ax.scatter(raster.step, raster.neuron, s=0.6, c="k", marker="|", linewidths=0.5)
    ax.set_xlim(0, raster.steps)
    ax.set_ylim(-0.5, raster.n_neurons - 0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("neuron index")
    ax.set_title(title)
    return ax.figure if own else None


def rate_histogram(raster: Raster):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rates = raster.counts() / max(raster.steps, 1)
    ax.hist(rates, bins=40, color="#4466aa")
    ax.set_xlabel("firing rate (spikes per step)")
    ax.set_ylabel("neurons")
    ax.set_title(f"{int((rates > 0).sum())} of {raster.n_neurons} neurons fired")
    return fig


def map_section(summary: dict[str, Any], quantization: dict[str, Any], raster: Raster,
                stimulus: dict[str, Any]) -> str:
    """Map summary, quantization error, reference raster and firing-rate histogram."""
    keys = ("source", "neurons", "synapses", "excitatory_neurons", "inhibitory_neurons",
            "excitatory_synapses", "inhibitory_synapses", "self_connections", "delay_min",
            "delay_max", "weight_min", "weight_max", "mean_fan_out", "max_fan_in")
    rules = "".join(f"<li>{html.escape(r)}</li>" for r in summary.get("rules", []))
    return (
        "<h2>Connectivity map</h2>"
        + table([(k, summary.get(k)) for k in keys])
        + (f"<p>Rules applied on import:</p><ul>{rules}</ul>" if rules else "")
        + "<h2>Quantization</h2>" + table(quantization)
        + "<h2>Reference model</h2>"
        + table([("steps", raster.steps), ("spikes", len(raster)),
                 ("active neurons", int((raster.counts() > 0).sum())),
                 ("stimulus", stimulus)])
        + figure_png(raster_plot(raster, "reference spike raster"))
        + figure_png(rate_histogram(raster))
    )


def write_report(path: Path, title: str, sections: list[str]) -> Path:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + "".join(sections)
        + "</body></html>\n"
    )
    path.write_text(page)
    return path


def verify_section(verify: dict[str, Any]) -> str:
    rows = []
    for name, check in sorted(verify.get("checks", {}).items()):
        cls = "pass" if check.get("passed") else "fail"
        word = "PASS" if check.get("passed") else "FAIL"
        rows.append(f"<tr><td>{html.escape(name)}</td><td class='{cls}'>{word}</td>"
                    f"<td>{html.escape(str(check.get('summary', '')))}</td></tr>")
    return ("<h2>Verification</h2><table><tr><th>check</th><th>result</th><th>summary</th></tr>"
            + "".join(rows) + "</table>")


def copy_section(truth: Any, found: dict[str, tuple[Any, Any, Any]], figures: dict[str, dict],
                 n: int) -> str:
    """The Copy section: true and recovered sign matrices side by side, recall against PSP
    amplitude per method, and the counts. ``found[method] = (pre, post, sign)`` index arrays,
    ``figures[method]`` the method's ``figures["truth"]``."""
    import numpy as np

    mats = {"truth": np.zeros((n, n), np.int8)}
    chem = truth.sign != 0
    mats["truth"][truth.pre[chem], truth.post[chem]] = truth.sign[chem]
    for method, (pre, post, sign) in found.items():
        mats[method] = np.zeros((n, n), np.int8)
        mats[method][pre, post] = sign
    fig, axes = plt.subplots(1, len(mats), figsize=(4.2 * len(mats), 4.2))
    for ax, (name, m) in zip(np.atleast_1d(axes), mats.items(), strict=True):
        ax.imshow(m, cmap="bwr_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{name}: {int((m > 0).sum())} E, {int((m < 0).sum())} I")
        ax.set_xlabel("post")
        ax.set_ylabel("pre")
    matrices = figure_png(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for method, f in figures.items():
        rows = [r for r in f["recall_by_psp"] if r["true"]]
        x = [r["psp_mV"][0] if r["psp_mV"][1] is None else 0.5 * (r["psp_mV"][0] + r["psp_mV"][1])
             for r in rows]
        ax.plot(x, [r["recall"] for r in rows], "o-", label=method)
    ax.set_xlabel("true PSP amplitude (mV)")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.05)
    ax.legend()
    recall = figure_png(fig)
    head = "<tr><th>method</th><th>sign</th><th>true</th><th>reported</th><th>true found</th>" \
           "<th>precision</th><th>recall</th><th>MCC</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(method)}</td><td>{name}</td><td>{f[name]['true']}</td>"
        f"<td>{f[name]['found']}</td><td>{f[name]['true_positives']}</td>"
        f"<td>{f[name]['precision']:.3f}</td><td>{f[name]['recall']:.3f}</td>"
        f"<td>{f[name]['mcc']:.3f}</td></tr>"
        for method, f in figures.items() for name in ("excitatory", "inhibitory"))
    return ("<h2>Copy</h2><p>Connections recovered from the simulated culture's recording by "
            "PSP regression (intracellular) and by spike-train cross-correlation (spikes), "
            "against the culture's truth. Red: excitatory, blue: inhibitory.</p>"
            + f"<table>{head}{body}</table>" + matrices + recall)


def _window_text(w: dict | None) -> str:
    if not w:
        return "n/a"
    if not w.get("chosen"):
        return f"no ({w.get('why')})"
    return (f"flat {w['tail_ms']:g} ms box, mirror {'on' if w['mirror'] else 'off'} "
            f"({w['directed_pairs']} directed pairs; {w['directed_share']:.0%} of the pairs "
            "the median reference calls are directed)")


def imprint_section(root: Path, max_cells: int = 200) -> str:
    """The Imprint section of an imprint directory: the target (truth) and the imprinted
    matrices side by side (signed weights of the first ``max_cells`` neurons), the learned signs,
    and a few cells' conductance trajectories."""
    import numpy as np

    from neuropaste.compiled import IMPRINT_CONDUCTANCES, IMPRINT_JSON, IMPRINT_TRAJECTORIES

    doc = json.loads((root / IMPRINT_JSON).read_text())
    with np.load(root / IMPRINT_CONDUCTANCES) as d:
        weight, chosen, sign = d["weight"], d["chosen"], d["sign"]
        target = d["target"] if "target" in d.files else None
    with np.load(root / IMPRINT_TRAJECTORIES) as d:
        tr = {k: d[k] for k in d.files}
    n = min(len(doc["labels"]), max_cells)
    f = doc["figures"]
    mats: dict = {}
    truth = f.get("truth")
    w = weight[:n, :n]
    lim = float(np.percentile(np.abs(w), 99.5)) or 1.0
    learned = np.where(chosen, sign, 0)[:n, :n]
    if target is not None:
        t = target[:n, :n]
        mats["target (true weights)"] = (t, float(np.abs(t).max()) or 1.0)
    mats["imprinted weight (G - G_ref) / dG"] = (w, lim)
    mats["learned connections"] = (learned, 1.0)
    fig, axes = plt.subplots(1, len(mats), figsize=(4.4 * len(mats), 4.2))
    for ax, (name, (m, v)) in zip(np.atleast_1d(axes), mats.items(), strict=True):
        ax.imshow(m, cmap="bwr", vmin=-v, vmax=v, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("post (column)")
        ax.set_ylabel("pre (row)")
        if n <= 20:
            ax.set_xticks(range(n), doc["labels"][:n], fontsize=7)
            ax.set_yticks(range(n), doc["labels"][:n], fontsize=7)
    matrices = figure_png(fig)
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    labels = doc["labels"]
    ncell = len(doc["labels"])
    for k, cell in enumerate(tr["cell"].tolist()):
        m = int(tr["updates"][k])
        g = tr["g_lo"][k] + tr["state"][k, :m] * (tr["g_hi"][k] - tr["g_lo"][k])
        ax.step(np.concatenate([[0.0], tr["t_s"][k, :m]]), np.concatenate([[tr["g_lo"][k]], g])
                * 1e6, where="post", label=f"{labels[cell // ncell]} -> {labels[cell % ncell]}")
    ax.set_xlabel("recording time (s)")
    ax.set_ylabel("G (uS)")
    ax.legend(fontsize=7)
    traj = figure_png(fig)
    rows = [("device model", doc["model"]["name"]), ("source", doc["model"]["source"]),
            ("drive", doc["drive"]), ("variation", doc["options"]["variation"]),
            ("spikes", f["spikes"]), ("overlaps (programming events)", f["overlaps"]),
            ("STDP window (ms)", f["stdp_window_ms"]),
            ("window chosen from the measured lags", _window_text(f.get("window"))),
            ("half-select margin (V)", f["disturb"]["margin_v"]),
            ("write energy (J)", f["write_energy_j"]["total"]),
            ("time to paste (s)", f["time_to_paste_s"]), ("found", f["found"])]
    if truth:
        rows += [("true connections", truth["true_connections"]),
                 ("precision", truth["precision"]), ("recall", truth["recall"]),
                 ("MCC excitatory", truth["excitatory"]["mcc"]),
                 ("MCC inhibitory", truth["inhibitory"]["mcc"]),
                 ("Pearson r, weight vs truth", truth["pearson_weight"])]
    return ("<h2>Imprint</h2><p>The activity drove an N x N crossbar by STDP (pulse overlap); "
            "each cell counted the causal coincidences of its pair. Red: excitatory, blue: "
            "inhibitory.</p>" + table(rows) + matrices + traj)
