"""The floating-point model written for Brian2, the independent simulator we check against.

Brian2 runs, per time step, ``groups`` (our update, a ``run_regularly`` block), then
``thresholds``, ``synapses`` and ``resets``. A spike at step t is delivered in the ``synapses``
slot of step t + delay, after that step's update, so a delay of d steps in our semantics is a
Brian2 delay of (d - 1) steps. External events enter through a TimedArray read by the update.
Used by the agreement test and by ``bench/reference.py``; needs the ``brian`` extra.
"""

from __future__ import annotations

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.events import Raster, Stimulus
from neuropaste.neuron import QuantOptions
from neuropaste.sim.float_model import float_params

UPDATE = """
is_ref = int(r > 0)
u = v * decay + I + bias + stim_weight * ext(t, i)
v = is_ref * v_reset + (1 - is_ref) * u
r = r - is_ref
I = 0
"""


def build_network(cmap: ConnectivityMap, opts: QuantOptions | None, steps: int,
                  stimulus: Stimulus | None, target: str = "numpy"):
    """A Brian2 Network of the map plus the SpikeMonitor that records its raster."""
    import brian2 as b2

    b2.prefs.codegen.target = target
    opts = opts or QuantOptions()
    stimulus = stimulus or Stimulus.empty()
    p = float_params(cmap, opts)
    n = cmap.n_neurons
    dt = b2.defaultclock.dt
    keep = stimulus.step < steps
    ext_values = np.zeros((steps, n))
    ext_values[stimulus.step[keep], stimulus.neuron[keep]] = 1.0
    ext = b2.TimedArray(ext_values, dt=dt)
    group = b2.NeuronGroup(
        n,
        """v : 1
        I : 1
        r : integer
        is_ref : integer
        u : 1
        decay : 1 (constant)
        bias : 1 (constant)
        thr : 1 (constant)
        v_reset : 1 (constant)
        refractory_steps : integer (constant)""",
        threshold="is_ref == 0 and v >= thr",  # a refractory neuron never fires
        reset="v = v_reset\nr = refractory_steps",
        namespace={"ext": ext, "stim_weight": p["stim_weight"]},
    )
    group.decay = p["decay"]
    group.bias = p["bias"]
    group.thr = p["threshold"]
    group.v_reset = p["v_reset"]
    group.refractory_steps = p["refractory"]
    group.run_regularly(UPDATE, when="groups")
    monitor = b2.SpikeMonitor(group)
    objects = [group, monitor]
    if cmap.n_synapses:  # Brian2 refuses a Synapses object without connections
        syn = b2.Synapses(group, group, "w : 1", on_pre="I_post += w")
        syn.connect(i=cmap.pre.astype(np.int64), j=cmap.post.astype(np.int64))
        syn.w = cmap.weight
        syn.delay = (cmap.delay.astype(np.float64) - 1.0) * dt
        objects.append(syn)
    return b2.Network(*objects), monitor


def simulate_brian(cmap: ConnectivityMap, opts: QuantOptions | None, steps: int,
                   stimulus: Stimulus | None = None, target: str = "numpy") -> Raster:
    import brian2 as b2

    net, monitor = build_network(cmap, opts, steps, stimulus, target)
    net.run(steps * b2.defaultclock.dt)
    step = np.rint(np.asarray(monitor.t / b2.defaultclock.dt)).astype(np.int64)
    neuron = np.asarray(monitor.i, np.int64)
    order = np.lexsort((neuron, step))
    return Raster(step=step[order], neuron=neuron[order], steps=steps, n_neurons=cmap.n_neurons)
