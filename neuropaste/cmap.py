"""The connectivity map: what a recording "copied", before any hardware decision.

Arrays, not objects: a map of 1e5 neurons and 1e8 synapses is ~2 GB here (int32 pre/post,
float64 weight, int16 delay) and every importer, exporter and generator reads it vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Neuron parameters a map may carry, in real units; NaN means "use the compiler's default".
#: ``tau`` (membrane time constant, in steps), ``v_threshold`` and ``v_reset`` (in weight units),
#: ``bias`` (weight units added every step), ``refractory`` (steps).
NEURON_PARAMS = ("tau", "v_threshold", "v_reset", "bias", "refractory")

EXCITATORY, INHIBITORY, UNKNOWN = 1, -1, 0


def _strictly_sorted(pre: np.ndarray, post: np.ndarray, delay: np.ndarray,
                     block: int = 1 << 22) -> bool:
    """True when (pre, post, delay) is already in strictly increasing lexicographic order.

    Checked in blocks (overlapping by one synapse), so a map of 3e8 synapses needs a few tens of
    MB of temporaries here rather than several GB.
    """
    for lo in range(0, max(len(pre) - 1, 0), block):
        hi = min(lo + block + 1, len(pre))
        dp = np.diff(pre[lo:hi].astype(np.int64))
        dq = np.diff(post[lo:hi].astype(np.int64))
        dd = np.diff(delay[lo:hi].astype(np.int64))
        if not np.all((dp > 0) | ((dp == 0) & ((dq > 0) | ((dq == 0) & (dd > 0))))):
            return False
    return True


def _integers(values) -> np.ndarray:
    """An integer array as given (no copy), anything else as int64 (lists, floats: checked)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr
    return np.asarray(values, dtype=np.int64)


def _order(pre: np.ndarray, post: np.ndarray, delay: np.ndarray, n: int) -> np.ndarray:
    """Stable (pre, post, delay) order: one int64 key when it fits, 2-3x faster than lexsort.

    Stable, so parallel edges are summed in file order either way (same float sums).
    """
    span = int(delay.max()) + 1 if len(delay) else 1
    if n and n * n * span < 2**62:
        return np.argsort((pre * n + post) * span + delay, kind="stable")
    return np.lexsort((delay, post, pre))


@dataclass(frozen=True, eq=False)
class ConnectivityMap:
    """Named neurons and directed, signed, delayed synapses.

    Canonical form (enforced by :meth:`build`): synapses sorted by (pre, post, delay), at most one
    synapse per (pre, post, delay) -- parallel edges with the same delay are summed, edges with
    different delays stay separate -- and no zero weights. Self-connections are kept: with a delay
    of at least one step they are ordinary recurrent synapses.
    """

    labels: np.ndarray  # (N,) str
    pre: np.ndarray  # (E,) int32
    post: np.ndarray  # (E,) int32
    weight: np.ndarray  # (E,) float64, signed
    delay: np.ndarray  # (E,) int16, steps >= 1
    kind: np.ndarray  # (N,) int8: +1 excitatory, -1 inhibitory, 0 unknown
    params: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) float64, NaN=default
    meta: dict[str, Any] = field(default_factory=dict)  # provenance: source, reader, rules applied

    @classmethod
    def build(
        cls,
        labels,
        pre,
        post,
        weight,
        delay=None,
        kind=None,
        params: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ConnectivityMap:
        """Validate, merge parallel edges and sort; the one way maps are made.

        Canonical input (strictly sorted int32 pre/post, int16 delay, float64 nonzero weights,
        as a generator at scale writes them) is kept as it is: the map shares those arrays.
        """
        labels = np.asarray([str(x) for x in labels], dtype=str)
        n = len(labels)
        if len(set(labels.tolist())) != n:
            seen: set[str] = set()
            dup = next(x for x in labels.tolist() if x in seen or seen.add(x))
            raise ValueError(f"duplicate neuron label {dup!r}")
        # integer arrays keep their dtype (no int64 copy of a 3e8-synapse map); others convert
        pre, post = _integers(pre), _integers(post)
        weight = np.asarray(weight, dtype=np.float64)
        delay = np.ones(len(pre), np.int16) if delay is None else _integers(delay)
        if not (len(pre) == len(post) == len(weight) == len(delay)):
            raise ValueError("pre, post, weight and delay must have the same length")
        if len(pre) and (pre.min() < 0 or post.min() < 0 or pre.max() >= n or post.max() >= n):
            raise ValueError("synapse endpoint outside the neuron table")
        if not np.all(np.isfinite(weight)):
            raise ValueError("non-finite synaptic weight")
        if len(delay) and (delay.min() < 1 or delay.max() > np.iinfo(np.int16).max):
            raise ValueError("delays must be integer steps in 1..32767")
        # merge (pre, post, delay) duplicates by summing, in a fixed order; strictly sorted
        # input (archives, exports, generated maps) has none and is taken without a copy
        if not _strictly_sorted(pre, post, delay):
            pre, post, delay = (a.astype(np.int64) for a in (pre, post, delay))
            key = _order(pre, post, delay, n)
            pre, post, weight, delay = pre[key], post[key], weight[key], delay[key]
            new = np.ones(len(pre), bool)
            new[1:] = (pre[1:] != pre[:-1]) | (post[1:] != post[:-1]) | (delay[1:] != delay[:-1])
            starts = np.flatnonzero(new)
            weight = np.add.reduceat(weight, starts)
            pre, post, delay = pre[starts], post[starts], delay[starts]
        if not np.all(weight != 0.0):
            keep = weight != 0.0
            pre, post, weight, delay = pre[keep], post[keep], weight[keep], delay[keep]
        kind = np.zeros(n, np.int8) if kind is None else np.asarray(kind, np.int8)
        if kind.shape != (n,) or not np.all(np.isin(kind, (-1, 0, 1))):
            raise ValueError("kind must be one of -1, 0, +1 per neuron")
        clean: dict[str, np.ndarray] = {}
        for name, values in (params or {}).items():
            if name not in NEURON_PARAMS:
                raise ValueError(f"unknown neuron parameter {name!r}")
            arr = np.broadcast_to(np.asarray(values, np.float64), (n,)).copy()
            clean[name] = arr
        return cls(
            labels=labels,
            pre=pre.astype(np.int32, copy=False),
            post=post.astype(np.int32, copy=False),
            weight=weight,
            delay=delay.astype(np.int16, copy=False),
            kind=kind,
            params=clean,
            meta=dict(meta or {}),
        )

    @property
    def n_neurons(self) -> int:
        return len(self.labels)

    @property
    def n_synapses(self) -> int:
        return len(self.pre)

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.n_synapses else 1

    def param(self, name: str, default: float) -> np.ndarray:
        """Per-neuron values of a parameter, with NaN (or absence) replaced by ``default``."""
        values = self.params.get(name)
        if values is None:
            return np.full(self.n_neurons, float(default))
        return np.where(np.isnan(values), float(default), values)

    def csr(self) -> sp.csr_matrix:
        """Summed weight matrix W[pre, post] over all delays."""
        n = self.n_neurons
        return sp.csr_matrix((self.weight, (self.pre, self.post)), shape=(n, n))

    def fan_in(self, block: int = 1 << 22) -> np.ndarray:
        """Synapses into each neuron, counted in blocks (a bincount of every post at once
        takes an int64 copy of them: 2.4 GB at 3e8 synapses)."""
        count = np.zeros(self.n_neurons, np.int64)
        for a in range(0, self.n_synapses, block):
            count += np.bincount(self.post[a:a + block], minlength=self.n_neurons)
        return count

    def index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels.tolist())}

    def summary(self) -> dict[str, Any]:
        """The figures ``neuropaste info`` prints."""
        w = self.weight
        exc_syn = int(np.count_nonzero(w > 0))
        return {
            "source": self.meta.get("source"),
            "neurons": self.n_neurons,
            "synapses": self.n_synapses,
            "excitatory_neurons": int(np.count_nonzero(self.kind == EXCITATORY)),
            "inhibitory_neurons": int(np.count_nonzero(self.kind == INHIBITORY)),
            "unknown_type_neurons": int(np.count_nonzero(self.kind == UNKNOWN)),
            "excitatory_synapses": exc_syn,
            "inhibitory_synapses": self.n_synapses - exc_syn,
            "self_connections": int(np.count_nonzero(self.pre == self.post)),
            "delay_min": int(self.delay.min()) if self.n_synapses else None,
            "delay_max": int(self.delay.max()) if self.n_synapses else None,
            "weight_min": float(w.min()) if self.n_synapses else None,
            "weight_max": float(w.max()) if self.n_synapses else None,
            "mean_fan_out": self.n_synapses / max(self.n_neurons, 1),
            "max_fan_in": int(self.fan_in().max(initial=0)),
            "rules": self.meta.get("rules", []),
        }
