"""The rule that turns an anatomical C. elegans connectome into a signed, delayed map.

- Chemical synapses take the sign of the presynaptic neuron's transmitter: the 26 GABAergic
  neurons (McIntire et al. 1993, Nature 364:337; Gendrel et al. 2016, eLife 5:e17686: DD1-6,
  VD1-13, RMED, RMEV, RMEL, RMER, AVL, DVB, RIS) are inhibitory, every other neuron excitatory
  (cholinergic or glutamatergic; glutamate acting through GluCl channels is not resolved). Weight
  = number of synaptic contacts. Delay 2 steps.
- Gap junctions are electrical and symmetric: each junction of n contacts becomes two excitatory
  synapses a->b and b->a of weight gap_scale * n (docs/semantics.md section 2). Delay 1 step:
  electrical coupling acts faster than chemical transmission.
"""

from __future__ import annotations

import numpy as np

from neuropaste.cmap import EXCITATORY, INHIBITORY, ConnectivityMap

GABAERGIC = frozenset(
    [f"DD{i}" for i in range(1, 7)] + [f"VD{i}" for i in range(1, 14)]
    + ["RMED", "RMEV", "RMEL", "RMER", "AVL", "DVB", "RIS"]
)
CHEMICAL_DELAY = 2
GAP_DELAY = 1


def rules(gap: bool, gap_scale: float) -> list[str]:
    out = ["chemical synapses signed by the presynaptic transmitter (26 GABAergic neurons "
           "inhibitory, others excitatory), weight = contacts, delay 2 steps"]
    if gap:
        out.append(f"gap junctions -> two excitatory synapses a->b and b->a of weight "
                   f"{gap_scale:g} x contacts, delay 1 step")
    else:
        out.append("gap junctions dropped (--no-gap)")
    out.append("parallel edges with the same delay summed")
    return out


def build(neurons: list[str], chem: tuple[np.ndarray, np.ndarray, np.ndarray],
          gaps: tuple[np.ndarray, np.ndarray, np.ndarray], *, gap: bool, gap_scale: float,
          source: str) -> ConnectivityMap:
    """neurons: labels; chem/gaps: (pre index, post index, contacts) arrays."""
    kind = np.array([INHIBITORY if x in GABAERGIC else EXCITATORY for x in neurons], np.int8)
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
    return ConnectivityMap.build(neurons, np.concatenate(pre), np.concatenate(post),
                                 np.concatenate(weight).astype(np.float64),
                                 np.concatenate(delay), kind,
                                 meta={"source": source, "rules": rules(gap, gap_scale)})
