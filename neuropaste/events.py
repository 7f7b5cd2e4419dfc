"""Events in time: external stimulus and spike rasters, the Poisson drive and the `step,neuron`
CSV format that stores both."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuropaste.errors import InputError


@dataclass(frozen=True, eq=False)
class Raster:
    """Spikes as (step, neuron index) pairs, sorted by step then neuron."""

    step: np.ndarray  # int64
    neuron: np.ndarray  # int64
    steps: int
    n_neurons: int

    def __len__(self) -> int:
        return len(self.step)

    def counts(self) -> np.ndarray:
        return np.bincount(self.neuron, minlength=self.n_neurons)

    def first_difference(self, other: Raster) -> tuple[int, int] | None:
        """(step, neuron) of the first event whose count differs between the two rasters.

        A multiset comparison: a duplicated spike is a difference, as is a missing one, so a
        hardware raster that repeats an event never compares equal to the reference.
        """
        a, b = self._keys(), other._keys()
        keys = np.unique(np.concatenate([a, b]))
        if len(keys) == 0:
            return None
        count_a = np.bincount(np.searchsorted(keys, a), minlength=len(keys))
        count_b = np.bincount(np.searchsorted(keys, b), minlength=len(keys))
        differ = np.flatnonzero(count_a != count_b)
        if len(differ) == 0:
            return None
        step, neuron = keys[differ[0]]
        return int(step), int(neuron)

    def _keys(self) -> np.ndarray:
        """(step, neuron) rows as one structured array, ordered by step then neuron."""
        rows = np.empty(len(self.step), dtype=[("step", np.int64), ("neuron", np.int64)])
        rows["step"], rows["neuron"] = self.step, self.neuron
        return rows


@dataclass(frozen=True, eq=False)
class Stimulus:
    """External events e_j(t): sorted unique (step, neuron) pairs."""

    step: np.ndarray
    neuron: np.ndarray

    @classmethod
    def from_pairs(cls, step, neuron) -> Stimulus:
        step = np.asarray(step, np.int64)
        neuron = np.asarray(neuron, np.int64)
        if len(step):
            key = np.unique(np.stack([step, neuron], 1), axis=0)
            step, neuron = key[:, 0].copy(), key[:, 1].copy()
        return cls(step=step, neuron=neuron)

    @classmethod
    def empty(cls) -> Stimulus:
        return cls.from_pairs([], [])

    def __len__(self) -> int:
        return len(self.step)


def poisson(n_neurons: int, steps: int, rate: float, seed: int,
            neurons: np.ndarray | None = None) -> Stimulus:
    """e_j(t) ~ Bernoulli(rate) for each driven neuron and step, from default_rng(seed).

    Drawn step by step in blocks so 1e4 neurons x 1e5 steps never materialise as one array.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"drive rate must be in [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    driven = np.arange(n_neurons) if neurons is None else np.asarray(neurons, np.int64)
    block = max(1, (1 << 22) // max(len(driven), 1))
    steps_out, neurons_out = [], []
    for t0 in range(0, steps, block):
        t1 = min(steps, t0 + block)
        hit = rng.random((t1 - t0, len(driven))) < rate
        t, j = np.nonzero(hit)
        steps_out.append(t + t0)
        neurons_out.append(driven[j])
    if not steps_out:
        return Stimulus.empty()
    return Stimulus.from_pairs(np.concatenate(steps_out), np.concatenate(neurons_out))


def _read_rows(path: str | os.PathLike) -> list[tuple[int, list[str]]]:
    """(line number, fields) per record; quoted labels may hold commas, quotes and newlines."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a directory, not a CSV file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(p, f"cannot read: {err}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise InputError(p, f"malformed CSV: {err}", record=f"line {start}") from None
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        raise InputError(p, "empty file: expected a header step,neuron")
    return rows


def load_stimulus_csv(path: str | os.PathLike, labels: np.ndarray) -> Stimulus:
    """Read external events; labels name the neurons (docs/semantics.md section 5)."""
    rows = _read_rows(path)
    header = [c.strip() for c in rows[0][1]]
    for col in ("step", "neuron"):
        if col not in header:
            raise InputError(path, f"missing column {col!r} (header is {','.join(header)})",
                             record="line 1")
    i_step, i_neuron = header.index("step"), header.index("neuron")
    index = {label: i for i, label in enumerate(np.asarray(labels).tolist())}
    steps, neurons = [], []
    for lineno, row in rows[1:]:
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(path, f"{len(row)} fields, header has {len(header)}",
                             record=f"line {lineno}")
        raw_step, label = row[i_step].strip(), row[i_neuron]
        try:
            step = int(raw_step)
        except ValueError:
            raise InputError(path, f"step {raw_step!r} is not an integer",
                             record=f"line {lineno}") from None
        if step < 0:
            raise InputError(path, f"step {step} is negative", record=f"line {lineno}")
        if label not in index:
            raise InputError(path, f"unknown neuron {label!r}", record=f"line {lineno}")
        steps.append(step)
        neurons.append(index[label])
    return Stimulus.from_pairs(steps, neurons)


def _write_events(path: str | os.PathLike, step: np.ndarray, neuron: np.ndarray,
                  labels: np.ndarray) -> None:
    names = np.asarray(labels).tolist()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["step", "neuron"])
        w.writerows((int(s), names[int(n)]) for s, n in zip(step, neuron, strict=True))


def save_stimulus_csv(path: str | os.PathLike, stim: Stimulus, labels: np.ndarray) -> None:
    """The stimulus CSV that load_stimulus_csv reads back to the same events."""
    _write_events(path, stim.step, stim.neuron, labels)


def save_raster_csv(path: str | os.PathLike, raster: Raster, labels: np.ndarray) -> None:
    """`step,neuron` sorted by step then neuron index; labels CSV-quoted as needed."""
    order = np.lexsort((raster.neuron, raster.step))
    _write_events(path, raster.step[order], raster.neuron[order], labels)


def load_raster_csv(path: str | os.PathLike, labels: np.ndarray, steps: int) -> Raster:
    """A `step,neuron` raster (ours or the RTL's) back as a Raster of ``steps`` steps."""
    stim = load_stimulus_csv(path, labels)
    return Raster(step=stim.step, neuron=stim.neuron, steps=steps, n_neurons=len(labels))
