"""The rule that turns an anatomical C. elegans connectome into a signed, delayed map.

- Chemical synapses take the sign of the presynaptic neuron's transmitter, from the
  neurotransmitter atlas the C. elegans Connectome Toolbox ships (Wang et al. 2024, eLife
  13:RP95402, read by ``cect.readers.Wang2024Reader``): a neuron that releases GABA is
  inhibitory, every other neuron excitatory (acetylcholine, glutamate -- whose GluCl-gated
  inhibition is not resolved --, monoamines, betaine, unknown). The four SMD neurons release
  acetylcholine and GABA: they count as inhibitory by this rule, as GABAergic. AVF only takes
  GABA up ("GABA_Uptake"): excitatory. Weight = number of synaptic contacts. Delay 2 steps.
- Gap junctions are electrical and symmetric: each junction of n contacts becomes two excitatory
  synapses a->b and b->a of weight gap_scale * n (docs/semantics.md section 2). Delay 1 step:
  electrical coupling acts faster than chemical transmission.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from neuropaste.cmap import EXCITATORY, INHIBITORY, ConnectivityMap

GABA = "GABA"
CHEMICAL_DELAY = 2
GAP_DELAY = 1
TRANSMITTER_SOURCE = "Wang et al. 2024 neurotransmitter atlas (cect Wang2024Reader)"


def cect_transmitters(male: bool = False) -> dict[str, list[str]]:
    """Neuron -> transmitter classes from cect's own table (needs ``cect``; ~2 s, quiet)."""
    from cect.readers.Wang2024Reader import Wang2024Reader

    with contextlib.redirect_stdout(io.StringIO()):  # cect prints progress to stdout
        reader = Wang2024Reader(sex="Male" if male else "Hermaphrodite")
    return {cell: sorted(str(x) for x in nts if x) for cell, nts in
            sorted(reader.all_neurotransmitters.items())}


def kinds(neurons: list[str], transmitters: dict[str, list[str]]) -> np.ndarray:
    """+1/-1 per neuron: -1 where GABA is among the neuron's transmitters."""
    return np.array([INHIBITORY if GABA in transmitters.get(x, ()) else EXCITATORY
                     for x in neurons], np.int8)


def rules(gap: bool, gap_scale: float, n_inhibitory: int) -> list[str]:
    out = [f"chemical synapses signed by the presynaptic transmitter ({TRANSMITTER_SOURCE}: "
           f"{n_inhibitory} GABA-releasing neurons inhibitory, others excitatory), "
           f"weight = contacts, delay {CHEMICAL_DELAY} steps"]
    if gap:
        out.append(f"gap junctions -> two excitatory synapses a->b and b->a of weight "
                   f"{gap_scale:g} x contacts, delay {GAP_DELAY} step")
    else:
        out.append("gap junctions dropped (--no-gap)")
    out.append("parallel edges with the same delay summed")
    return out


def build(neurons: list[str], kind: np.ndarray, chem: tuple[np.ndarray, np.ndarray, np.ndarray],
          gaps: tuple[np.ndarray, np.ndarray, np.ndarray], *, gap: bool, gap_scale: float,
          source: str) -> ConnectivityMap:
    """neurons: labels; kind: +1/-1 per neuron; chem/gaps: (pre index, post index, contacts)."""
    kind = np.asarray(kind, np.int8)
    cpre, cpost, cn = chem
    pre, post = [cpre], [cpost]
    weight = [cn * kind[cpre]]
    delay = [np.full(len(cpre), CHEMICAL_DELAY)]
    if gap:
        gpre, gpost, gn = gaps
        pre += [gpre, gpost]
        post += [gpost, gpre]
        weight += [gap_scale * gn, gap_scale * gn]
        delay += [np.full(len(gpre), GAP_DELAY)] * 2
    n_inh = int(np.count_nonzero(kind == INHIBITORY))
    return ConnectivityMap.build(neurons, np.concatenate(pre), np.concatenate(post),
                                 np.concatenate(weight).astype(np.float64),
                                 np.concatenate(delay), kind,
                                 meta={"source": source, "rules": rules(gap, gap_scale, n_inh)})
