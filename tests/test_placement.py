"""Placement on cores: limits hold, traffic falls against in-order, tables are multicast."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import clustered_network

from neuropaste.errors import InputError
from neuropaste.generators.placement import (
    CoreLimits,
    destinations,
    multicast_table,
    place,
    remote_sends,
    traffic,
)


def test_limits_hold_and_traffic_beats_in_order() -> None:
    net = clustered_network()
    limits = CoreLimits(neurons=80, fanout_entries=2000)
    p = place(net, 8, limits)
    assert np.bincount(p.core, minlength=8).max() <= 80
    assert np.bincount(p.core[net.post], minlength=8).max() <= 2000
    in_order = p.stats["intercore_packets_in_order"]
    assert p.stats["intercore_packets_per_step"] < 0.6 * in_order
    # local addresses are a permutation of 0..size-1 on every core
    for c in range(8):
        assert sorted(p.local[p.core == c].tolist()) == list(range(int((p.core == c).sum())))


def test_multicast_table_sends_one_packet_per_destination_core() -> None:
    net = clustered_network(seed=1)
    p = place(net, 4, CoreLimits(neurons=160, fanout_entries=4000))
    src, dst = multicast_table(net, p)
    pairs = set(zip(net.pre.tolist(), p.core[net.post].tolist(), strict=True))
    assert set(zip(src.tolist(), dst.tolist(), strict=True)) == pairs
    assert len(src) == len(pairs) < net.n_synapses
    remote = sum(1 for s, d in pairs if p.core[s] != d)
    assert traffic(net, p.core) == remote


def test_rates_steer_the_placement() -> None:
    net = clustered_network(seed=2)
    rates = np.zeros(net.n_neurons)
    rates[:50] = 1.0  # only a few neurons fire
    p = place(net, 4, CoreLimits(neurons=160, fanout_entries=4000), rates=rates)
    assert p.stats["weighted_by"] == "firing rates"
    assert p.stats["intercore_packets_per_step"] <= traffic(net, p.core * 0 + np.arange(
        net.n_neurons) * 4 // net.n_neurons, rates)


def test_deterministic() -> None:
    net = clustered_network(seed=3)
    a = place(net, 8, CoreLimits(neurons=80, fanout_entries=2000), seed=5)
    b = place(net, 8, CoreLimits(neurons=80, fanout_entries=2000), seed=5)
    assert np.array_equal(a.core, b.core)


def test_too_few_cores_is_a_clear_error() -> None:
    net = clustered_network()
    with pytest.raises(InputError, match="at least 8 cores"):
        place(net, 2, CoreLimits(neurons=80, fanout_entries=100000))


def test_destinations_marks_each_core_once() -> None:
    net = clustered_network(n=100, e=800, clusters=2)
    p = place(net, 2, CoreLimits(neurons=60, fanout_entries=1000))
    d = destinations(net, p.core)
    assert d.max() == 1


def _skewed_rates(net) -> np.ndarray:
    """A few hot neurons, scattered: their targets carry most of the delivery work."""
    rng = np.random.default_rng(7)
    rates = rng.random(net.n_neurons) * 0.02
    rates[rng.choice(net.n_neurons, 40, replace=False)] = 0.8
    return rates


def test_work_balance_beats_neuron_balance_on_the_busiest_core() -> None:
    from neuropaste.generators.placement import delivery_work, objectives

    net = clustered_network(seed=4)
    rates = _skewed_rates(net)
    limits = CoreLimits(neurons=150, fanout_entries=4000)
    work = place(net, 8, limits, rates=rates)
    neurons = place(net, 8, limits, rates=rates, balance="neurons")
    assert work.stats["balance"] == "work" and neurons.stats["balance"] == "neurons"
    w, n = work.stats["objectives"], neurons.stats["objectives"]
    # the same numbers from the definition: rate-weighted fan-in summed per core
    per_core = np.bincount(work.core, weights=delivery_work(net, rates), minlength=8)
    assert w["max_core_work"] == pytest.approx(per_core.max())
    assert w["max_core_work"] < 0.9 * n["max_core_work"]
    assert w["work_balance"] > 0.9
    # the neuron-balanced placement is reported beside it, and traffic stays in its range
    assert work.stats["objectives_neuron_balanced"] == objectives(net, neurons.core, 8, rates)
    # a map past BASELINE_SYNAPSES (or baseline=False) skips that second partition, and says so
    alone = place(net, 8, limits, rates=rates, baseline=False)
    assert (alone.core == work.core).all() and "objectives_neuron_balanced" not in alone.stats
    assert alone.stats["neuron_balanced_baseline"].startswith("not computed")
    assert w["intercore_packets_per_step"] < 1.5 * n["intercore_packets_per_step"]
    assert np.bincount(work.core, minlength=8).max() <= 150


def test_step_balance_evens_out_every_step_on_a_stimulus_it_never_saw() -> None:
    """A step lasts as long as its busiest core: placement "steps" spreads each step's work
    over the cores. Judged on a held-out stimulus, it beats the work-balanced placement by a
    wide margin; it pays in traffic, which both placements report."""
    from neuropaste.events import poisson
    from neuropaste.generators.placement import step_balance, step_work
    from neuropaste.reference import simulate

    net = clustered_network(n=600, e=12000, clusters=8, p_in=0.9, seed=3)
    seen = simulate(net, 80, poisson(net.n_neurons, 80, 0.02, seed=0))
    unseen = simulate(net, 80, poisson(net.n_neurons, 80, 0.02, seed=1))
    rates = seen.counts() / seen.steps
    limits = CoreLimits(neurons=100, fanout_entries=4000)
    placed = {b: place(net, 8, limits, rates=rates, balance=b, raster=seen)
              for b in ("work", "steps")}
    held = {b: step_balance(step_work(net, unseen, None)[:unseen.steps], p.core, 8)
            for b, p in placed.items()}
    assert held["steps"] > 0.85 and held["steps"] > held["work"] + 0.1, held
    steps = placed["steps"]
    assert steps.stats["balance"] == "steps" and steps.stats["step_balance"] > 0.85
    assert "objectives_neuron_balanced" in steps.stats
    assert np.bincount(steps.core, minlength=8).max() <= 100
    assert (place(net, 8, limits, rates=rates, balance="steps", raster=seen).core
            == steps.core).all()


def test_step_balance_refuses_route_tables_that_cannot_fit() -> None:
    from neuropaste.events import poisson
    from neuropaste.reference import simulate

    net = clustered_network(n=600, e=12000, clusters=8, p_in=0.9, seed=3)
    seen = simulate(net, 40, poisson(net.n_neurons, 40, 0.02, seed=0))
    with pytest.raises(InputError, match="100 route entries: use more cores"):
        place(net, 8, CoreLimits(neurons=100, fanout_entries=4000, route_entries=100),
              balance="steps", raster=seen)


def test_sweep_order_puts_the_busiest_remote_senders_first() -> None:
    """``order="sends"``: the same cores, each core's neurons by rate x remote fan-out, highest
    first (ties by index); ``"index"`` (the default of ``place``) keeps the map's order."""
    net = clustered_network(seed=4)
    rates = np.random.default_rng(0).random(net.n_neurons)
    limits = CoreLimits(neurons=80, fanout_entries=2000)
    before = place(net, 8, limits, rates=rates)
    after = place(net, 8, limits, rates=rates, order="sends")
    assert np.array_equal(before.core, after.core)
    assert (before.stats["sweep_order"], after.stats["sweep_order"]) == ("index", "sends")
    sends = remote_sends(net, after.core, rates)
    assert sends.max() > 0
    for c in range(8):
        assert np.all(np.diff(before.members(c)) > 0)
        members = after.members(c)
        assert sorted(after.local[members].tolist()) == list(range(len(members)))
        assert np.all(np.diff(sends[members]) <= 0)
    assert not np.array_equal(before.local, after.local)
    with pytest.raises(ValueError, match="order must be one of"):
        place(net, 8, limits, order="random")


def test_unknown_balance_is_refused() -> None:
    net = clustered_network(seed=4)
    with pytest.raises(ValueError, match="balance must be one of"):
        place(net, 4, CoreLimits(neurons=200), balance="spikes")


def test_axon_indices_are_distinct_at_every_core_and_tables_stay_local() -> None:
    """Sources that reach a common core carry different axon indices; each core's pointer
    table holds exactly its sources' fan-out under them, and is far smaller than N when the
    map is local."""
    from neuropaste.generators.placement import axon_indices, mesh_plan, table_sizes

    net = clustered_network(n=800, e=8000, clusters=8, p_in=0.97, seed=6)
    p = place(net, 8, CoreLimits(neurons=200, fanout_entries=4000))
    axon = axon_indices(net, p)
    dest = destinations(net, p.core).tocoo()
    assert (axon[np.unique(net.pre)] >= 0).all()
    assert (axon[np.setdiff1d(np.arange(net.n_neurons), net.pre)] == -1).all()
    plan = mesh_plan(net, p)
    for c in range(8):
        sources = dest.row[dest.col == c]
        assert len(np.unique(axon[sources])) == len(sources)  # no two share an index here
        img = plan.images[c]
        assert img.n_axons == axon[sources].max() + 1
        for i in sources[:50]:
            k = axon[i]
            on_c = (net.pre == i) & (p.core[net.post] == c)
            got = np.sort(img.target[img.indptr[k]:img.indptr[k + 1]])
            assert np.array_equal(got, np.sort(p.local[net.post[on_c]]))
    sizes = table_sizes(plan)
    assert [s["axons_used"] for s in sizes] == [
        len(np.unique(dest.row[dest.col == c])) for c in range(8)]
    assert max(s["axon_table_entries"] for s in sizes) < net.n_neurons / 2


def test_a_dense_map_is_placed_on_a_sample_within_every_limit(monkeypatch) -> None:
    """Past ``PLACE_SYNAPSES_PER_NEURON`` the partitioner sees a seeded sample; the limits and
    the stats still hold on every synapse, and the placement stays deterministic."""
    import neuropaste.generators.placement as placement

    net = clustered_network(seed=4)
    monkeypatch.setattr(placement, "PLACE_SYNAPSES", 500)
    monkeypatch.setattr(placement, "PLACE_SYNAPSES_PER_NEURON", 2)
    g = placement.link_graph(net, np.ones(net.n_neurons), 0)
    assert 0 < g.nnz <= 2 * max(500, 2 * net.n_neurons) < net.n_synapses
    limits = CoreLimits(neurons=80, fanout_entries=2000)
    a, b = place(net, 8, limits, seed=1), place(net, 8, limits, seed=1)
    assert np.array_equal(a.core, b.core)
    assert np.bincount(a.core[net.post], minlength=8).max() <= 2000
    assert a.stats["intercore_packets_per_step"] == traffic(net, a.core)
    assert a.stats["intercore_packets_per_step"] < a.stats["intercore_packets_in_order"]


def test_default_core_count_leaves_a_fan_in_of_room() -> None:
    from neuropaste.generators.placement import cores_to_start

    net = clustered_network(seed=5)
    fan_in = int(np.bincount(net.post).max())
    limits = CoreLimits(fanout_entries=fan_in * 40)
    assert cores_to_start(net, limits) == -(-net.n_synapses // (39 * fan_in + 1))
    p = place(net, None, limits)
    assert p.n_cores >= cores_to_start(net, limits)
    assert np.bincount(p.core[net.post], minlength=p.n_cores).max() <= limits.fanout_entries


def test_table_bits_follow_the_pointer_layout_of_the_design() -> None:
    """The manifest's per-core table bits count the pointer word the design holds: a third
    field (where the delay-1 entries end) with split delays when a core has delays above 1,
    one field with end pointers, and a word a neuron for the masked sender table."""
    from neuropaste.generators.placement import mesh_plan, table_sizes
    from neuropaste.hdl.core import CoreGeometry

    net = clustered_network(n=200, e=2000, clusters=4, p_in=0.9, seed=3)
    net = net.replace(delay=np.where(np.arange(net.n_synapses) % 2, 2, 1).astype(net.delay.dtype))
    plan = mesh_plan(net, place(net, 4, CoreLimits(neurons=60)))
    base, split, ends = (table_sizes(plan, **kw) for kw in ({}, {"split": True},
                                                            {"ptr_ends": True}))
    masked = table_sizes(plan, masked=True)
    for c, image in enumerate(plan.images):
        e_bits = CoreGeometry(image).e_bits
        pointers = base[c]["axon_table_entries"] * e_bits
        assert split[c]["table_bits"] - base[c]["table_bits"] == pointers
        assert base[c]["table_bits"] - ends[c]["table_bits"] == pointers
        assert masked[c]["table_bits"] != base[c]["table_bits"]
