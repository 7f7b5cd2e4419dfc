"""Backends at the same time (the RTL one forked) write what they write one after another."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from netgen import clustered_network

from neuropaste.compile import compile_network
from neuropaste.errors import InputError
from neuropaste.events import Stimulus
from neuropaste.generators.rtl import RTLOptions


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_parallel_backends_write_byte_identical_files(tmp_path: Path) -> None:
    net = clustered_network(n=120, e=1500, clusters=4, seed=2)
    stim = Stimulus.from_pairs([0, 1, 3], [0, 5, 9])
    common = dict(stimulus=stim, steps=8, backends=("rtl", "spice"), quiet=True,
                  backend_options={"rtl": RTLOptions(cores=2)})
    par = compile_network(net, tmp_path / "p", parallel=True, **common)
    ser = compile_network(net, tmp_path / "s", parallel=False, **common)
    assert _digests(tmp_path / "p") == _digests(tmp_path / "s")
    assert par["backends"] == ser["backends"]
    res = par["resources"]
    assert "rtl backend / placement" in res["stage_seconds"]  # timed in the forked process
    assert res["rss_MB_backend_processes"]["rtl"]["peak"] > 0
    assert res["peak_rss_MB"] >= res["peak_rss_MB_compile_process"]
    assert "rss_MB_backend_processes" not in ser["resources"]


def test_an_input_error_in_the_forked_backend_stops_the_compile(tmp_path: Path) -> None:
    net = clustered_network(n=40, e=300, clusters=2, seed=3)
    with pytest.raises(InputError, match="--core-neurons must be >= 1"):
        compile_network(net, tmp_path / "x", stimulus=Stimulus.from_pairs([0], [0]), steps=4,
                        backends=("rtl", "spice"), quiet=True, parallel=True,
                        backend_options={"rtl": RTLOptions(core_neurons=0)})
    assert not (tmp_path / "x").exists()


def test_backends_run_in_turn_when_their_predicted_memory_does_not_fit() -> None:
    """The default: at the same time while the backends' predicted growth, summed, fits the
    budget; in turn otherwise (the files are the same either way, test above)."""
    import os
    from types import SimpleNamespace

    from neuropaste.compile import PARALLEL_MEMORY_SHARE, backends_at_once
    from neuropaste.generators import backends as registry

    chosen = [registry.get("rtl"), registry.get("spice")]
    assert all(b.bytes_per_synapse > 0 for b in chosen)
    small, large = SimpleNamespace(n_synapses=10**4), SimpleNamespace(n_synapses=10**9)
    roomy = backends_at_once(chosen, small, memory_mb=10**6)
    assert roomy["chosen"] is ((os.cpu_count() or 1) > 1)
    assert roomy["budget_MB"] == pytest.approx(PARALLEL_MEMORY_SHARE * 10**6, abs=0.1)
    tight = backends_at_once(chosen, large, memory_mb=24 * 1024)
    assert tight["chosen"] is False and tight["predicted_peak_MB"] > tight["budget_MB"]
    grows = sorted(b.bytes_per_synapse * 10**9 / 2**20 for b in chosen)
    assert tight["predicted_peak_MB"] - tight["predicted_peak_in_turn_MB"] == \
        pytest.approx(grows[0], abs=1.0)
    assert backends_at_once(chosen[:1], small, memory_mb=10**6)["chosen"] is False


def test_in_turn_by_the_memory_rule_forks_each_backend_alone(tmp_path: Path,
                                                             monkeypatch) -> None:
    """When the memory rule says in turn, the RTL backend still runs in a forked process, but
    the spice one starts only after it has ended; same files, and the peak is the larger."""
    import neuropaste.compile as compile_module

    monkeypatch.setattr(compile_module, "PARALLEL_MEMORY_SHARE", 0.0)
    net = clustered_network(n=120, e=1500, clusters=4, seed=2)
    common = dict(stimulus=Stimulus.from_pairs([0, 1, 3], [0, 5, 9]), steps=8,
                  backends=("rtl", "spice"), quiet=True,
                  backend_options={"rtl": RTLOptions(cores=2)})
    turn = compile_network(net, tmp_path / "t", **common)
    ser = compile_network(net, tmp_path / "s", parallel=False, **common)
    assert turn["backends"] == ser["backends"]
    assert _digests(tmp_path / "t") == _digests(tmp_path / "s")
    res = turn["resources"]
    assert res["backends_at_once"]["chosen"] is False
    child = res["rss_MB_backend_processes"]["rtl"]["peak"]
    assert child > 0 and "rtl backend / placement" in res["stage_seconds"]
    assert res["peak_rss_MB"] == max(res["peak_rss_MB_compile_process"], child)
    assert "in turn" in res["peak_note"]
