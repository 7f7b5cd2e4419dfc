"""Recordings: the three input forms read back exactly, in chunks, and bad input is one line."""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuropaste.errors import InputError
from neuropaste.io.recording import IcephysWriter, open_recording, read_truth

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
RATE = 5000.0


def traces(n_samples: int = 1200, n_ch: int = 4, seed: int = 0) -> np.ndarray:
    """int16 counts, as an acquisition system stores them."""
    return np.random.default_rng(seed).integers(-3000, 3000, (n_samples, n_ch)).astype(np.int16)


def nwbfile():
    from pynwb import NWBFile

    return NWBFile(session_description="test", identifier="test", session_start_time=START)


def write_icephys(path: Path, data: np.ndarray, *, rates=None, starts=None, lengths=None,
                  conversion: float = 1e-5, timestamps_for: int | None = None) -> Path:
    """A tiny icephys NWB written with pynwb itself (not with our writer)."""
    from pynwb import NWBHDF5IO
    from pynwb.icephys import CurrentClampSeries

    nwb = nwbfile()
    dev = nwb.create_device(name="amp")
    for i in range(data.shape[1]):
        el = nwb.create_icephys_electrode(name=f"e{i}", description="pad", device=dev)
        col = data[: (lengths[i] if lengths else data.shape[0]), i]
        timing = {"rate": rates[i] if rates else RATE,
                  "starting_time": starts[i] if starts else 0.0}
        if timestamps_for == i:
            timing = {"timestamps": np.arange(col.size) / RATE}
        nwb.add_acquisition(CurrentClampSeries(name=f"cell{i}", data=col, electrode=el,
                                               conversion=conversion, gain=1.0, **timing))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_ecephys(path: Path, data: np.ndarray, labels=None, conversion: float = 1e-5) -> Path:
    from pynwb import NWBHDF5IO
    from pynwb.ecephys import ElectricalSeries

    nwb = nwbfile()
    dev = nwb.create_device(name="array")
    group = nwb.create_electrode_group(name="g", description="g", location="dish", device=dev)
    if labels is not None:
        nwb.add_electrode_column(name="label", description="neuron label")
    for i in range(data.shape[1]):
        extra = {"label": labels[i]} if labels is not None else {}
        nwb.add_electrode(group=group, location="dish", **extra)
    region = nwb.create_electrode_table_region(list(range(data.shape[1])), "all")
    nwb.add_acquisition(ElectricalSeries(name="es", data=data, electrodes=region, rate=RATE,
                                         conversion=conversion))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_npz(path: Path, data: np.ndarray, labels=None, rate=RATE, compressed=False) -> Path:
    labels = labels if labels is not None else [f"n{i}" for i in range(data.shape[1])]
    save = np.savez_compressed if compressed else np.savez
    save(path, traces=data, rate=np.float64(rate), labels=np.array(labels))
    return path


# ------------------------------------------------------------------------------ round trips


def test_icephys_round_trip(tmp_path):
    data = traces()
    rec = open_recording(write_icephys(tmp_path / "r.nwb", data))
    assert rec.kind == "icephys"
    assert rec.labels == ("cell0", "cell1", "cell2", "cell3")
    assert (rec.rate, rec.n_samples, rec.start_time) == (RATE, 1200, 0.0)
    got = rec.read(100, 300)
    assert got.dtype == np.float32 and got.shape == (200, 4)
    np.testing.assert_allclose(got, data[100:300] * 1e-2, rtol=1e-6)  # 1e-5 V/count -> mV
    np.testing.assert_allclose(rec.read(0, 50, np.array([3, 1])), data[:50, [3, 1]] * 1e-2,
                               rtol=1e-6)
    np.testing.assert_allclose(rec.read(1190, 5000, slice(1, 3)), data[1190:, 1:3] * 1e-2,
                               rtol=1e-6)


def test_ecephys_round_trip_labels_and_ids(tmp_path):
    data = traces(n_ch=3)
    rec = open_recording(write_ecephys(tmp_path / "e.nwb", data, labels=["a", "b", "c"]))
    assert rec.kind == "ecephys" and rec.labels == ("a", "b", "c")
    np.testing.assert_allclose(rec.read(5, 905, np.array([2, 0])), data[5:905, [2, 0]] * 1e-2,
                               rtol=1e-6)
    rec = open_recording(write_ecephys(tmp_path / "ids.nwb", data))
    assert rec.labels == ("0", "1", "2")


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path, compressed):
    data = traces().astype(np.float32) / 7
    rec = open_recording(write_npz(tmp_path / "t.npz", data, compressed=compressed))
    assert rec.kind == "npz" and rec.labels == ("n0", "n1", "n2", "n3")
    np.testing.assert_array_equal(rec.read(10, 20), data[10:20])
    if not compressed:  # stored arrays are memory-mapped, never loaded whole
        assert isinstance(rec._handle["traces"], np.memmap)


def test_writer_round_trip_is_byte_identical(tmp_path):
    data = traces(n_samples=1000, n_ch=3)
    digests = []
    for name in ("a.nwb", "b.nwb"):
        with IcephysWriter(tmp_path / name, ["x", "y", "z"], RATE, 1000, conversion=1e-5,
                           identifier="id-7", session_start_time=START) as w:
            for s in range(0, 1000, 300):
                w.write(s, data[s:s + 300])
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    rec = open_recording(tmp_path / "a.nwb")
    assert rec.labels == ("x", "y", "z") and rec.kind == "icephys"
    np.testing.assert_allclose(rec.read(0, 1000), data * 1e-2, rtol=1e-6)
    from pynwb import NWBHDF5IO, validate  # pynwb itself validates and reads what we wrote

    assert validate(path=str(tmp_path / "a.nwb")) == []

    with NWBHDF5IO(str(tmp_path / "a.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.identifier == "id-7"
        np.testing.assert_array_equal(nwb.acquisition["y"].data[:], data[:, 1])
        assert nwb.acquisition["y"].conversion == 1e-5


@pytest.mark.parametrize("samples,overlap", [(100, 0), (256, 31), (1200, 10), (5000, 0)])
def test_chunks_cover_the_recording_with_overlap(tmp_path, samples, overlap):
    data = traces(n_samples=1001)
    rec = open_recording(write_npz(tmp_path / "t.npz", data.astype(np.float32)))
    seen = np.zeros(1001, dtype=int)
    prev = None
    for start, block in rec.chunks(samples, overlap):
        np.testing.assert_array_equal(block, data[start:start + block.shape[0]])
        if prev is not None:
            assert start == prev[0] + samples - overlap
            assert prev[1] == samples  # only the last block is short
        seen[start:start + block.shape[0]] += 1
        prev = (start, block.shape[0])
    assert prev[0] + prev[1] == 1001
    assert seen.min() == 1 and seen.max() == (2 if overlap and samples < 1001 else 1)


def test_recording_pickles_without_its_handle(tmp_path):
    data = traces()
    rec = open_recording(write_icephys(tmp_path / "r.nwb", data))
    rec.read(0, 10)
    again = pickle.loads(pickle.dumps(rec))
    np.testing.assert_array_equal(again.read(0, 10), rec.read(0, 10))


def test_channel_major_blocks_and_split_detection_agree(tmp_path):
    """An icephys file read in its own layout (``order="K"``, channel-major) holds the same
    values as the C-ordered read; spike detection split between two processes by channel
    finds exactly the spikes one process finds (and some spikes, so it checked something)."""
    from neuropaste.copy.detect import DetectOptions, detect

    rng = np.random.default_rng(3)
    data = rng.integers(-40, 40, (20000, 6)).astype(np.int16)
    for c in range(6):  # a few upstrokes per channel, at random times
        for t0 in rng.choice(np.arange(100, 19900), 12, replace=False):
            data[t0: t0 + 5, c] += np.array([2000, 6000, 9000, 6000, 2000], np.int16)
    rec = open_recording(write_icephys(tmp_path / "s.nwb", data))
    c_order = rec.read(100, 900, np.arange(1, 5))
    k_order = rec.read(100, 900, np.arange(1, 5), order="K")
    assert k_order.flags.f_contiguous and np.array_equal(c_order, k_order)
    opts = DetectOptions(calibration_s=1.0, block_mb=0.05)  # many blocks, seams included
    one, two = detect(rec, opts), detect(rec, opts, workers=2)
    assert len(one.sample) >= 6 * 10
    for name in ("sample", "channel", "ap_mV", "threshold", "noise"):
        assert np.array_equal(getattr(one, name), getattr(two, name), equal_nan=True), name


# ------------------------------------------------------------------------------ bad input


def message(path) -> str:
    with pytest.raises(InputError) as err:
        open_recording(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text
    return text


def test_not_nwb(tmp_path):
    (tmp_path / "x.nwb").write_text("hello\n")
    assert "not an NWB file (not HDF5)" in message(tmp_path / "x.nwb")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = 1
    assert "not an NWB file" in message(tmp_path / "plain.h5")
    np.savez(tmp_path / "map.npz", pre=np.arange(3))
    assert "no 'traces' array" in message(tmp_path / "map.npz")


def test_series_without_rate(tmp_path):
    path = write_icephys(tmp_path / "r.nwb", traces(n_ch=3), timestamps_for=1)
    assert "series 'cell1' has no rate" in message(path)


def test_series_disagree(tmp_path):
    data = traces(n_ch=3)
    text = message(write_icephys(tmp_path / "a.nwb", data, rates=[5000.0, 5000.0, 10000.0]))
    assert "different rates" in text and "'cell2' 10000 Hz" in text
    text = message(write_icephys(tmp_path / "b.nwb", data, starts=[0.0, 1.5, 0.0]))
    assert "different start times" in text and "'cell1' 1.5 s" in text
    text = message(write_icephys(tmp_path / "c.nwb", data, lengths=[1200, 1200, 1000]))
    assert "different lengths" in text and "'cell2' 1000 samples" in text


def test_fewer_than_two_channels(tmp_path):
    assert "fewer than two channels" in message(write_icephys(tmp_path / "a.nwb",
                                                              traces(n_ch=1)))
    assert "fewer than two channels" in message(write_ecephys(tmp_path / "b.nwb",
                                                              traces(n_ch=1)))
    assert "fewer than two channels" in message(write_npz(tmp_path / "c.npz", traces(n_ch=1)))


def test_truth(tmp_path):
    labels = ["a", "b", "c"]
    good = tmp_path / "t.csv"
    good.write_text("pre,post,sign,psp_mV,delay_ms\na,b,1,0.5,2.0\nc,a,-1,,\nb,c,0,0.1,0\n")
    t = read_truth(good, labels)
    assert t.pre.tolist() == [0, 2, 1] and t.post.tolist() == [1, 0, 2]
    assert t.sign.tolist() == [1, -1, 0]
    assert t.psp_mV[0] == 0.5 and np.isnan(t.psp_mV[1]) and t.delay_ms[0] == 2.0
    bad = tmp_path / "bad.csv"
    bad.write_text("pre,post,sign\na,b,1\na,zz,-1\n")
    with pytest.raises(InputError) as err:
        read_truth(bad, labels)
    assert str(err.value) == (f"{bad}: line 3: unknown label 'zz' in column post (not a channel "
                              "of the recording)")
    bad.write_text("pre,post,sign\na,b,2\n")
    with pytest.raises(InputError, match="line 2: sign must be"):
        read_truth(bad, labels)
    bad.write_text("pre,post\na,b\n")
    with pytest.raises(InputError, match="missing 'sign'"):
        read_truth(bad, labels)


# ------------------------------------------------------------------ bad input through the CLI


def cli_error(capsys, tmp_path, *args) -> str:
    from neuropaste.cli import main

    out = tmp_path / "map.csv"
    assert main(["copy", *map(str, args), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert not out.exists() and not out.with_suffix(".copy.json").exists()
    return lines[0]


def test_cli_refuses_bad_recordings(tmp_path, capsys):
    data = traces(n_ch=3)
    (tmp_path / "text.nwb").write_text("not hdf5\n")
    cases = [
        (tmp_path / "text.nwb", "not an NWB file (not HDF5)"),
        (write_icephys(tmp_path / "ts.nwb", data, timestamps_for=0),
         "series 'cell0' has no rate (timestamps only; resample it to a fixed rate)"),
        (write_icephys(tmp_path / "rates.nwb", data, rates=[RATE, 2 * RATE, RATE]),
         "series have different rates: 'cell0' 5000 Hz, 'cell1' 10000 Hz"),
        (write_icephys(tmp_path / "one.nwb", traces(n_ch=1)),
         "fewer than two channels: 1 CurrentClampSeries"),
        (tmp_path / "missing.nwb", "no such file"),
    ]
    for path, expected in cases:
        assert cli_error(capsys, tmp_path, path) == f"neuropaste: error: {path}: {expected}"


def test_cli_refuses_truth_with_unknown_labels(tmp_path, capsys):
    rec = write_npz(tmp_path / "r.npz", traces(n_ch=3).astype(np.float32))
    truth = tmp_path / "truth.csv"
    truth.write_text("pre,post,sign\nn0,n1,1\nn2,ghost,-1\n")
    line = cli_error(capsys, tmp_path, rec, "--truth", truth)
    assert line == (f"neuropaste: error: {truth}: line 3: unknown label 'ghost' in column post "
                    "(not a channel of the recording)")
