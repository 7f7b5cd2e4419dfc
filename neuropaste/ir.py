"""The Network IR: the one integer network every backend reads and the reference model runs.

Everything here is exactly what the hardware computes (docs/semantics.md). Backends never look
back at the :class:`~neuropaste.cmap.ConnectivityMap`; they read a :class:`Network`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def bits_for_signed(magnitude: int) -> int:
    """Smallest two's-complement width that holds every value in [-magnitude, magnitude]."""
    return max(2, int(magnitude).bit_length() + 1)


@dataclass(frozen=True, eq=False)
class Network:
    """Integer LIF network: quantized synapses and per-neuron integer parameters.

    Synapses are in canonical order (pre, post, delay), one per (pre, post, delay).
    ``acc_bits`` is sized so the per-step input sum of any neuron cannot overflow.
    """

    labels: np.ndarray  # (N,) str -- data only; backends escape before emitting text
    pre: np.ndarray  # (E,) int32
    post: np.ndarray  # (E,) int32
    weight: np.ndarray  # (E,) int32, within signed_range(w_bits)
    delay: np.ndarray  # (E,) int16, 1..max_delay
    threshold: np.ndarray  # (N,) int64: spike when v >= threshold
    v_reset: np.ndarray  # (N,) int64: v after a spike and while refractory
    bias: np.ndarray  # (N,) int64: added every step
    leak_shift: np.ndarray  # (N,) uint8: leak = v >> k, k == 0 means no leak
    refractory: np.ndarray  # (N,) int64: steps during which input is ignored after a spike
    stim_weight: int  # added by one external (AER input) event
    w_bits: int
    v_bits: int
    acc_bits: int
    max_delay: int
    quantization: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_neurons(self) -> int:
        return len(self.labels)

    @property
    def n_synapses(self) -> int:
        return len(self.pre)

    @property
    def v_min(self) -> int:
        return signed_range(self.v_bits)[0]

    @property
    def v_max(self) -> int:
        return signed_range(self.v_bits)[1]

    @property
    def refractory_bits(self) -> int:
        return max(1, int(self.refractory.max(initial=0)).bit_length())

    def replace(self, **changes: Any) -> Network:
        return dataclasses.replace(self, **changes)

    def fan_in_bound(self, block: int = 1 << 22) -> np.ndarray:
        """Per neuron: the largest |input| one step can bring (synapses + bias + one event).
        Summed in blocks of synapses (exact: integers below 2^53 in float64), so a 3e8-synapse
        network needs no float copy of its weights."""
        abs_in = np.zeros(self.n_neurons, np.float64)
        for a in range(0, self.n_synapses, block):
            abs_in += np.bincount(self.post[a:a + block],
                                  weights=np.abs(self.weight[a:a + block]).astype(np.float64),
                                  minlength=self.n_neurons)
        return abs_in.astype(np.int64) + np.abs(self.bias) + abs(int(self.stim_weight))

    def scalars(self) -> dict[str, Any]:
        """The widths and sizes a generator records in its manifest."""
        return {
            "neurons": self.n_neurons,
            "synapses": self.n_synapses,
            "w_bits": self.w_bits,
            "v_bits": self.v_bits,
            "acc_bits": self.acc_bits,
            "max_delay": self.max_delay,
            "refractory_bits": self.refractory_bits,
            "stim_weight": int(self.stim_weight),
            "quantization": self.quantization,
        }

    def digest(self) -> str:
        """Content hash: two networks with the same digest compute the same thing."""
        h = hashlib.sha256()
        for arr in (
            self.pre, self.post, self.weight, self.delay, self.threshold, self.v_reset,
            self.bias, self.leak_shift, self.refractory,
        ):
            h.update(np.ascontiguousarray(arr))  # its buffer: no copy of 10^8 synapses
        h.update("\0".join(self.labels.tolist()).encode())
        h.update(json.dumps([self.stim_weight, self.w_bits, self.v_bits, self.acc_bits,
                             self.max_delay]).encode())
        return h.hexdigest()


def fanout_indptr(net: Network) -> np.ndarray:
    """Where each presynaptic source's synapses start and end in the CSR by source (the
    row pointer of :func:`fanout_table` alone: no synapse-sized array; synapses are in
    canonical order, by source)."""
    # queries in the synapses' type: a mixed-type search copies every synapse to int64 first
    return np.searchsorted(net.pre, np.arange(net.n_neurons + 1, dtype=net.pre.dtype)
                           ).astype(np.int64)


def fanout_table(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR by presynaptic source: indptr, target, weight, delay (canonical order kept)."""
    indptr = np.zeros(net.n_neurons + 1, np.int64)
    np.cumsum(np.bincount(net.pre, minlength=net.n_neurons), out=indptr[1:])
    order = np.argsort(net.pre, kind="stable")
    return (
        indptr,
        net.post[order].astype(np.int64),
        net.weight[order].astype(np.int64),
        net.delay[order].astype(np.int64),
    )


_ARRAYS = ("labels", "pre", "post", "weight", "delay", "threshold", "v_reset", "bias",
           "leak_shift", "refractory")
_SCALARS = ("stim_weight", "w_bits", "v_bits", "acc_bits", "max_delay")


def save_network(net: Network, path) -> None:
    """Write the IR as an .npz (arrays) with its scalars and reports as JSON inside."""
    header = {k: int(getattr(net, k)) for k in _SCALARS}
    header["quantization"] = net.quantization
    header["meta"] = net.meta
    arrays = {k: np.asarray(getattr(net, k)) for k in _ARRAYS}
    arrays["header"] = np.array(json.dumps(header, sort_keys=True, default=str))
    write_npz(path, arrays)


#: bytes of an array handed to the compressor at a time (deflate's output does not depend on
#: how its input is cut, so the file is the one a single write gives)
NPZ_CHUNK = 1 << 24


def write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez with fixed zip timestamps, so the same network gives the same bytes. Deflate
    at its fastest level: on 10^7-synapse arrays the default level took most of a minute for
    files a few percent smaller. Each array streams into the archive from where it lies (a
    copy of the largest array was the peak of writing a 3 x 10^8-synapse network)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                head, np.lib.format.header_data_from_array_1_0(arr))
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = 1  # what ZipFile.writestr(..., compresslevel=1) sets
            info.file_size = len(head.getbuffer()) + arr.nbytes  # decides zip64 up front
            flat = arr.reshape(-1).view(np.uint8) if arr.size else arr.reshape(-1)
            with zf.open(info, "w") as dest:
                dest.write(head.getbuffer())
                for a in range(0, flat.nbytes, NPZ_CHUNK):
                    dest.write(flat[a:a + NPZ_CHUNK])


def load_network(path) -> Network:
    with np.load(path, allow_pickle=False) as data:
        raw = data["header"].item()
        header = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        arrays = {k: data[k] for k in _ARRAYS}
    return Network(**arrays, **{k: header[k] for k in _SCALARS},
                   quantization=header["quantization"], meta=header["meta"])
