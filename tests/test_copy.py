"""neuropaste copy: recordings in, maps out, scored against the simulated culture's truth.

The cultures are Brian2 runs of ``neuropaste culture`` (tens of seconds each), so every test
that needs one is slow; the quick subset checks the statistics and the refusals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from neuropaste.cli import main
from neuropaste.copy.fdr import bh_qvalues

# what a 40-neuron, 60 s culture gives (measured: docs/copy.md), with margins that still fail
# on a broken detector
SMALL = ["--neurons", "40", "--seconds", "60", "--p-connect", "0.15", "--rate-hz", "5",
         "--seed", "1"]


def _culture(tmp_path_factory, name: str, args: list[str]) -> Path:
    out = tmp_path_factory.mktemp(name) / "c"
    assert main(["culture", "--out", str(out), *args]) == 0
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return _culture(tmp_path_factory, "small", SMALL)


def _copy(rec_dir: Path, out: Path, *extra: str) -> dict:
    code = main(["copy", str(rec_dir / "recording.nwb"), "--out", str(out),
                 "--truth", str(rec_dir / "truth.csv"), *extra])
    assert code == 0
    return json.loads(out.with_name(out.stem + ".copy.json").read_text())


# ---------------------------------------------------------------------------- quick


def test_bh_matches_the_step_up_rule():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    # sorted 0.005 0.01 0.03 0.04 0.5 -> p*m/rank = .025 .025 .05 .05 .5, then running min
    assert np.allclose(bh_qvalues(p), [0.025, 0.05, 0.05, 0.025, 0.5])
    assert (bh_qvalues(p) <= 0.05).sum() == 4


def test_empirical_null_centres_and_scales_each_post():
    from neuropaste.copy.run import empirical_null

    rng = np.random.default_rng(0)
    z = rng.normal(0.5, 2.0, (200, 200))
    z[:, 7] = rng.normal(0.0, 1.0, 200)  # narrower than the rest: floored at the median
    z[:, 9] = rng.normal(0.0, 4.0, 200)  # wider: its own scale
    tested = np.ones(200, bool)
    tested[:5] = False
    zc, med, mad = empirical_null(z, tested, 10)
    assert np.all(zc[:5] == 0)  # untested rows are never significant
    assert abs(np.median(mad) - 2.0) < 0.15
    assert mad[7] == mad.min() and abs(mad[7] - 2.0) < 0.15
    assert abs(mad[9] - 4.0) < 0.6
    assert abs(med[9]) < 0.6 and abs(np.median(med) - 0.5) < 0.15
    assert abs(np.std(zc[5:, 10:]) - 1.0) < 0.1


def test_inverse_blocks_match_the_full_inverse():
    import scipy.linalg as la

    from neuropaste.copy.regress import inverse_blocks

    rng = np.random.default_rng(0)
    k, n = 3, 7
    a = rng.normal(size=(k * n, k * n))
    g = a @ a.T + k * n * np.eye(k * n)
    blocks = inverse_blocks(la.cho_factor(g.copy(), lower=True)[0], k, n)
    inv = np.linalg.inv(g)
    idx = np.arange(k)[:, None] * n
    for i in range(n):
        assert np.allclose(blocks[i], inv[np.ix_((idx + i).ravel(), (idx + i).ravel())])


def test_cross_counts_match_elephants_cross_correlation_histogram():
    """The correlograms both methods are built on, against Elephant's for one pair."""
    import warnings

    import neo
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import cross_correlation_histogram

    from neuropaste.copy.responses import cross_counts

    rng = np.random.default_rng(0)
    T = 2000
    b0 = np.sort(rng.choice(T, 200, replace=False))
    b1 = np.unique(np.r_[b0[:100] + 3, rng.choice(T - 5, 50)])
    sbin = np.r_[b0, b1]
    sch = np.r_[np.zeros(len(b0), np.int64), np.ones(len(b1), np.int64)]
    order = np.argsort(sbin, kind="stable")
    ours = cross_counts(sbin[order], sch[order], 2, T, range(0, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binned = [BinnedSpikeTrain(neo.SpikeTrain((b + 0.5) * pq.ms, t_stop=T * pq.ms),
                                   bin_size=1 * pq.ms, t_start=0 * pq.ms, t_stop=T * pq.ms)
                  for b in (b0, b1)]
        cch, lags = cross_correlation_histogram(binned[0], binned[1], window=[-5, 5])
    cch = np.asarray(cch).ravel()
    assert list(ours[:, 0, 1]) == list(cch[5:])  # lags 0..5: 1 fires after 0
    assert list(ours[1:, 1, 0]) == list(cch[:5][::-1])  # negative lags: the transpose
    assert ours[3, 0, 1] >= 100  # the planted 3-bin lag


@pytest.mark.parametrize("args, message", [
    (["--fdr", "0"], "--fdr must be in (0, 1)"),
    (["--fdr", "1.5"], "--fdr must be in (0, 1)"),
    (["--step-ms", "0"], "--step-ms must be a positive number"),
    (["--step-ms", "nan"], "--step-ms must be a positive number"),
    (["--method", "tspe"], "--method must be one of intracellular, spikes, got 'tspe'"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, args, message):
    code = main(["copy", str(tmp_path / "missing.nwb"), "--out", str(tmp_path / "m.csv"),
                 *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err
    assert not list(tmp_path.iterdir())


def test_out_must_be_csv(tmp_path, capsys):
    assert main(["copy", str(tmp_path / "r.npz"), "--out", str(tmp_path / "m.txt")]) == 2
    assert "--out must name a .csv edge list" in capsys.readouterr().err


def _tiny_npz(path: Path) -> Path:
    rng = np.random.default_rng(1)
    np.savez(path, traces=rng.normal(0, 0.1, (5000, 3)).astype(np.float32), rate=5000.0,
             labels=np.array(["a", "b", "c"]))
    return path


def test_truth_with_unknown_label_exits_2_naming_file_and_line(tmp_path, capsys):
    rec = _tiny_npz(tmp_path / "r.npz")
    truth = tmp_path / "t.csv"
    truth.write_text("pre,post,sign\na,b,1\na,zz,-1\n")
    code = main(["copy", str(rec), "--out", str(tmp_path / "m.csv"), "--truth", str(truth)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "t.csv" in err and "line 3" in err and "'zz'" in err
    assert not (tmp_path / "m.csv").exists()


def test_noise_only_recording_gives_an_empty_map(tmp_path, capsys):
    rec = _tiny_npz(tmp_path / "r.npz")
    assert main(["copy", str(rec), "--out", str(tmp_path / "m.csv")]) == 0
    assert (tmp_path / "m.csv").read_text() == "pre,post,weight,delay\n"
    doc = json.loads((tmp_path / "m.copy.json").read_text())
    assert doc["figures"]["spikes"] == 0 and doc["figures"]["found"]["excitatory"] == 0


# ---------------------------------------------------------------------------- cultures


@pytest.mark.slow
def test_intracellular_recovers_the_small_culture(small, tmp_path):
    doc = _copy(small, tmp_path / "map.csv")
    t = doc["figures"]["truth"]
    assert t["excitatory"]["mcc"] >= 0.65, t["excitatory"]
    assert t["inhibitory"]["mcc"] >= 0.55, t["inhibitory"]
    assert t["excitatory"]["precision"] >= 0.9 and t["inhibitory"]["precision"] >= 0.8
    assert t["sign_accuracy"] >= 0.95
    assert t["amplitude_correlation"] >= 0.6
    big = [r for r in t["recall_by_psp"] if r["psp_mV"][0] >= 1.0 and r["true"]]
    assert all(r["recall"] >= 0.8 for r in big), big
    # every connection's statistics are there, one value per connection
    c = doc["connections"]
    assert len(c["pre"]) == len(c["q"]) == t["found_connections"]
    assert max(c["q"]) <= 0.05
    # latencies against the true synaptic delays (1-5 ms)
    import csv

    with open(small / "truth.csv") as fh:
        true = {(r["pre"], r["post"]): float(r["delay_ms"]) for r in csv.DictReader(fh)
                if r["sign"] != "0"}
    err = [lat - true[(a, b)] for a, b, lat in zip(c["pre"], c["post"], c["latency_ms"],
                                                   strict=True) if (a, b) in true]
    assert len(err) > 50 and np.mean(np.abs(err)) < 0.8 and abs(np.mean(err)) < 0.4


@pytest.mark.slow
def test_intracellular_finds_more_than_spike_correlation(small, tmp_path):
    intra = _copy(small, tmp_path / "a.csv")["figures"]["truth"]
    spikes = _copy(small, tmp_path / "b.csv", "--method", "spikes")["figures"]["truth"]
    found = intra["excitatory"]["true_positives"] + intra["inhibitory"]["true_positives"]
    base = spikes["excitatory"]["true_positives"] + spikes["inhibitory"]["true_positives"]
    assert found >= 4 * max(base, 1), (found, base)


@pytest.mark.slow
def test_map_compiles_and_run_is_deterministic(small, tmp_path):
    _copy(small, tmp_path / "a" / "map.csv", "--step-ms", "0.5")
    _copy(small, tmp_path / "b" / "map.csv", "--step-ms", "0.5")
    for name in ("map.csv", "map.copy.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = (tmp_path / "a" / "map.csv").read_text().splitlines()
    assert rows[0] == "pre,post,weight,delay" and len(rows) > 20
    delays = [int(r.rsplit(",", 1)[1]) for r in rows[1:]]
    assert min(delays) >= 1 and max(delays) >= 4  # 0.5 ms steps: 1-5 ms delays span 2-10
    assert main(["compile", str(tmp_path / "a" / "map.csv"), "--out",
                 str(tmp_path / "compiled"), "--backends", "rtl"]) == 0
    m = json.loads((tmp_path / "compiled" / "manifest.json").read_text())["map"]
    assert m["synapses"] == len(rows) - 1
    assert m["inhibitory_synapses"] == sum(float(r.split(",")[2]) < 0 for r in rows[1:])


@pytest.mark.slow
def test_fdr_holds_on_a_culture_without_connections(tmp_path_factory, tmp_path):
    """No synapses, no gap junctions: every discovery is false, so BH at q must report none
    (P(any) <= q), and the one-sided p-values of all pairs must be uniform."""
    from neuropaste.copy.detect import detect
    from neuropaste.copy.regress import fit
    from neuropaste.copy.responses import accumulate
    from neuropaste.copy.run import empirical_null
    from neuropaste.io.recording import open_recording

    null = _culture(tmp_path_factory, "null", ["--neurons", "60", "--seconds", "60",
                                               "--p-connect", "0", "--gap-pairs", "0",
                                               "--seed", "2"])
    for method in ("intracellular", "spikes"):
        doc = _copy(null, tmp_path / f"{method}.csv", "--method", method)
        assert doc["figures"]["found"] == {"excitatory": 0, "inhibitory": 0,
                                           "electrical_pairs": 0}, method
    rec = open_recording(null / "recording.nwb")
    spikes = detect(rec)
    f = fit(accumulate(rec, spikes))
    n = rec.n_channels
    off = ~np.eye(n, dtype=bool) & (spikes.counts(n) >= 10)[:, None]
    assert off.sum() > 3000
    for zt in f.z:  # every matched filter's z-scores, both tails
        z, _, _ = empirical_null(zt, spikes.counts(n) >= 10, 10)
        for p in (ndtr(-z[off]), ndtr(z[off])):
            for level in (0.01, 0.05, 0.2):
                assert abs((p < level).mean() - level) < max(0.3 * level, 0.006), level
            assert (p < 1e-4).sum() <= 2


@pytest.mark.slow
def test_demo_copy_pastes_the_copied_map(tmp_path):
    from neuropaste.demo import run_copy_demo

    page = run_copy_demo(tmp_path / "demo", neurons=30, seconds=30.0, steps=100).read_text()
    assert "<h2>Copy</h2>" in page
    assert "<td>rtl</td><td class='pass'>PASS</td>" in page
    assert str(tmp_path / "demo") in page and ".tmp-" not in page
    for name in ("map-intracellular.csv", "map-spikes.csv", "culture/truth.csv"):
        assert (tmp_path / "demo" / name).exists()


@pytest.mark.slow
def test_strong_gap_junctions_become_symmetric_excitatory_pairs(tmp_path):
    """Gap junctions ten times the culture's default (spikelets about 1.8 mV): found at lag 0
    in both directions and written as docs/semantics.md's gap rule prescribes."""
    from neuropaste.copy.culture import run_culture
    from neuropaste.sim.culture import CultureParams

    run_culture(tmp_path / "c", CultureParams(neurons=60, seconds=60.0, p_connect=0.05,
                                              rate_hz=5.0, gap_pairs=6, gap_coupling=0.5,
                                              seed=4))
    doc = _copy(tmp_path / "c", tmp_path / "map.csv")
    e = doc["figures"]["truth"]["electrical"]
    assert e["true"] == 6 and e["true_positives"] >= 3 and e["precision"] >= 0.6, e
    rows = [r.split(",") for r in (tmp_path / "map.csv").read_text().splitlines()[1:]]
    edges = {(a, b): (float(w), int(d)) for a, b, w, d in rows}
    for g in doc["electrical"]:
        there, back = edges[(g["a"], g["b"])], edges[(g["b"], g["a"])]
        assert there == back == (0.5 * g["coupling"], 1)
    assert doc["figures"]["truth"]["inhibitory"]["precision"] >= 0.7
