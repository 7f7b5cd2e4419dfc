"""A simulated neuronal culture for the copy step, run in Brian2 one segment at a time.

What it models (docs/copy.md, "The simulated culture", has the parameter table):

- **Neurons**: leaky integrate-and-fire with spike-frequency adaptation, refractory period and
  a stereotyped action potential added to the recorded potential (``v_rec``): after each spike
  an alpha-shaped waveform rises to ``ap_peak`` at ``tau_ap`` and decays onto the reset
  potential within the refractory period, so a 5 kHz recording shows action potentials (peak
  sampled within 5 % of ``ap_peak``), not only resets.
- **Synapses**: sparse random E/I connectivity, current-based with exponentially decaying
  currents (``tau_e``, ``tau_i``). Each synapse is defined by its PSP amplitude at rest, drawn
  lognormally; since the membrane is linear below threshold, a current jump ``J`` gives a PSP of
  peak ``J * k(tau_m, tau_s)`` at any potential (:func:`psp_per_jump`), so ``J = PSP / k``.
  Delays are uniform in ``delay_ms``.
- **Gap junctions** (optional): a few symmetric pairs with current ``g (v_rec_pre - v_rec_post)``,
  so action potentials cross as spikelets.
- **Drive**: per-neuron mean input set from the requested rate by the Siegert formula averaged
  over the shared drive's values (with the mean recurrent input and adaptation subtracted),
  an Ornstein-Uhlenbeck membrane noise, and a shared burst drive (Poisson bursts with a
  double-exponential envelope, each neuron with its own sensitivity): network bursts make many
  neurons deflect together, the confound a copy method must control.
- **The array**: a coupling gain per pad (lognormal), so the same action potential has a
  different amplitude on every trace, white recording noise, and int16 counts with a fixed
  ``lsb_uV`` (as an acquisition system stores them).

Brian2 (runtime code generation, Cython when it is available) integrates the network; this
module draws the network and yields the recording segment by segment, so memory is bounded by
one segment whatever the duration. Deterministic for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

#: the recorded rate of the CNEA experiment
RECORD_HZ = 5000.0


@dataclass(frozen=True)
class CultureParams:
    """Every parameter of a simulated culture (units in the names)."""

    neurons: int = 1728
    seconds: float = 60.0
    rate_hz: float = 2.0  # requested mean firing rate
    seed: int = 0
    # connectivity and synapses
    exc_fraction: float = 0.8
    p_connect: float = 0.02
    psp_median_mV: float = 0.5  # excitatory PSP amplitude at rest, lognormal median
    psp_sigma: float = 0.6  # lognormal sigma (natural log)
    inh_psp_scale: float = 1.5  # inhibitory PSP median = this x excitatory
    psp_min_mV: float = 0.1
    psp_max_mV: float = 2.0
    delay_min_ms: float = 1.0
    delay_max_ms: float = 5.0
    tau_e_ms: float = 3.0
    tau_i_ms: float = 6.0
    gap_pairs: int | None = None  # None: neurons // 100
    gap_coupling: float = 0.05  # g: gap current per volt of difference, relative to leak
    # neurons
    tau_m_ms: float = 20.0
    v_rest_mV: float = -65.0
    v_thresh_mV: float = -50.0
    v_reset_mV: float = -60.0
    refractory_ms: float = 2.0
    ap_peak_mV: float = 30.0
    tau_ap_ms: float = 0.3  # the action potential peaks this long after threshold
    adapt_mV: float = 0.5  # adaptation jump per spike
    tau_adapt_ms: float = 500.0
    # drive
    noise_mV: float = 2.0  # std of the free membrane potential (OU)
    rate_spread: float = 0.3  # lognormal sigma of per-neuron target rates
    silent_fraction: float = 0.0  # neurons held below threshold (they only receive)
    burst_hz: float = 0.1  # network bursts per second (shared drive)
    burst_mV: float = 6.0  # shared-drive peak at sensitivity 1
    burst_rise_ms: float = 30.0
    burst_decay_ms: float = 300.0
    # the array
    coupling_median: float = 0.5  # pad gain: recorded / membrane
    coupling_sigma: float = 0.5  # lognormal sigma of the pad gain
    coupling_max: float = 1.5
    record_noise_mV: float = 0.05  # white noise on the recorded trace (recorded units)
    lsb_uV: float = 5.0  # one int16 count
    # simulation
    dt_ms: float = 0.1
    noise_block_ms: float = 0.5  # the background noise current is redrawn this often
    segment_s: float = 2.0

    @property
    def n_gap(self) -> int:
        return self.neurons // 100 if self.gap_pairs is None else self.gap_pairs

    @property
    def record_every(self) -> int:
        return int(round(1000.0 / RECORD_HZ / self.dt_ms))

    @property
    def n_samples(self) -> int:
        return int(round(self.seconds * RECORD_HZ))

    def check(self) -> None:
        """ValueError naming the first parameter out of range."""
        rules = [
            ("neurons", self.neurons >= 2, ">= 2"),
            ("seconds", self.seconds * RECORD_HZ >= 1, f">= {1 / RECORD_HZ} (one sample)"),
            ("rate_hz", 0 < self.rate_hz < 100, "in (0, 100)"),
            ("exc_fraction", 0 <= self.exc_fraction <= 1, "in [0, 1]"),
            ("p_connect", 0 <= self.p_connect <= 1, "in [0, 1]"),
            ("psp_median_mV", self.psp_median_mV > 0, "> 0"),
            ("psp_min_mV", 0 < self.psp_min_mV <= self.psp_max_mV, "in (0, psp_max_mV]"),
            ("delay_min_ms", 0 < self.delay_min_ms <= self.delay_max_ms,
             "in (0, delay_max_ms]"),
            ("gap_pairs", 0 <= self.n_gap <= self.neurons, "in [0, neurons]"),
            ("noise_mV", self.noise_mV >= 0, ">= 0"),
            ("silent_fraction", 0 <= self.silent_fraction < 1, "in [0, 1)"),
            ("burst_hz", self.burst_hz >= 0, ">= 0"),
            ("coupling_median", 0 < self.coupling_median <= self.coupling_max,
             "in (0, coupling_max]"),
            ("record_noise_mV", self.record_noise_mV >= 0, ">= 0"),
            ("dt_ms", abs(self.record_every * self.dt_ms - 1000.0 / RECORD_HZ) < 1e-9,
             f"a divisor of {1000.0 / RECORD_HZ} ms"),
            ("segment_s", self.segment_s > 0, "> 0"),
            ("noise_block_ms", self.dt_ms <= self.noise_block_ms <= 0.1 * self.tau_m_ms,
             "in [dt_ms, tau_m_ms / 10]"),
        ]
        for name, ok, what in rules:
            if not ok:
                raise ValueError(f"{name} must be {what}, got {getattr(self, name)}")
        if self.coupling_max * (self.ap_peak_mV - self.v_rest_mV) * 1e3 / self.lsb_uV > 32000:
            raise ValueError("the largest action potential would overflow int16: raise lsb_uV "
                             "or lower coupling_max")

    def as_dict(self) -> dict:
        return asdict(self) | {"gap_pairs": self.n_gap}


@dataclass(frozen=True, eq=False)
class Culture:
    """The drawn network: what Brian2 simulates and what truth.csv reports."""

    params: CultureParams
    excitatory: np.ndarray  # bool per neuron
    pre: np.ndarray  # int64, chemical synapses
    post: np.ndarray
    psp_mV: np.ndarray  # signed: negative for inhibitory
    delay_ms: np.ndarray
    gap_a: np.ndarray  # gap-junction pairs (a < b)
    gap_b: np.ndarray
    mu_mV: np.ndarray  # mean drive per neuron
    drive_gain: np.ndarray  # sensitivity to the shared burst drive
    pad_gain: np.ndarray  # recorded / membrane, per pad
    sigma_mV: np.ndarray  # OU noise per neuron: noise_mV less the synaptic shot noise
    silent: np.ndarray  # bool per neuron: held below threshold

    @property
    def labels(self) -> list[str]:
        width = max(4, len(str(self.params.neurons - 1)))
        return [f"n{i:0{width}d}" for i in range(self.params.neurons)]  # sorted = index order

    def gap_psp_mV(self) -> float:
        """Approximate spikelet size a gap junction carries (for truth.csv)."""
        p = self.params
        g = p.gap_coupling
        return g * (p.ap_peak_mV - p.v_reset_mV) * math.e * p.tau_ap_ms / p.tau_m_ms


def psp_per_jump(tau_m: float, tau_s: float) -> float:
    """Peak PSP per unit current jump for ``tau_m dv/dt = -v + I``, ``dI/dt = -I/tau_s``.

    ``v(t) = J tau_s / (tau_m - tau_s) (exp(-t/tau_m) - exp(-t/tau_s))`` peaks at
    ``t* = tau_m tau_s ln(tau_m / tau_s) / (tau_m - tau_s)``.
    """
    if math.isclose(tau_m, tau_s):
        return math.exp(-1.0)
    t_peak = tau_m * tau_s * math.log(tau_m / tau_s) / (tau_m - tau_s)
    return tau_s / (tau_m - tau_s) * (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_s))


def psp_energy_s(tau_m: float, tau_s: float) -> float:
    """Integral over time of the squared PSP of peak 1 (seconds): a Poisson input at rate r
    with PSP amplitude a adds ``r a^2 psp_energy_s`` to the membrane variance (Campbell)."""
    c = tau_s / (tau_m - tau_s) / psp_per_jump(tau_m, tau_s)
    integral_ms = c**2 * (tau_m / 2 + tau_s / 2 - 2 * tau_m * tau_s / (tau_m + tau_s))
    return integral_ms * 1e-3


def siegert_rate(mu: np.ndarray, p: CultureParams) -> np.ndarray:
    """Firing rate (Hz) of an LIF neuron with OU noise at mean input ``mu`` (mV above rest)."""
    from scipy.integrate import quad
    from scipy.special import erfcx

    tau, tref = p.tau_m_ms * 1e-3, p.refractory_ms * 1e-3
    theta, vr = p.v_thresh_mV - p.v_rest_mV, p.v_reset_mV - p.v_rest_mV
    sigma = max(p.noise_mV, 0.05) * math.sqrt(2.0)
    out = []
    for m in np.atleast_1d(mu):
        lo, hi = (vr - m) / sigma, (theta - m) / sigma
        integral = quad(lambda u: erfcx(-u), lo, hi, limit=200)[0]
        out.append(1.0 / (tref + tau * math.sqrt(math.pi) * integral))
    return np.array(out)


def colored_noise_shift(sigma_ext: np.ndarray, shot_var: np.ndarray,
                        p: CultureParams) -> np.ndarray:
    """Extra mean input (mV) that makes up for the background noise being held per block.

    Fourcaud & Brunel (2002): Gaussian noise correlated over ``tau_c`` raises the effective
    threshold and reset by ``sigma_B alpha / 2 sqrt(tau_c / tau_m)``, ``alpha = sqrt(2)
    |zeta(1/2)|``, ``sigma_B = sqrt(2)`` times the membrane std. Here ``tau_c`` is half a noise
    block and ``sigma_B`` the background share of the variance over the total std. (The
    synaptic shot noise is left uncorrected: measured, the rate comes out within 15 % of the
    request with it uncorrected and 35 % over with it corrected.)
    """
    alpha = math.sqrt(2.0) * 1.4603545088095868  # |zeta(1/2)|
    total = np.sqrt(np.maximum(sigma_ext**2 + shot_var, 1e-12))
    tau_c = 0.5 * p.noise_block_ms
    return math.sqrt(2.0) * alpha / 2 * sigma_ext**2 / total * math.sqrt(tau_c / p.tau_m_ms)


def calibrate_mu(target_hz: np.ndarray, drive_gain: np.ndarray, drive_mV: np.ndarray,
                 p: CultureParams) -> np.ndarray:
    """Mean input per neuron (mV above rest) giving ``target_hz`` averaged over the shared drive.

    The bursts are slow against the membrane (hundreds of ms against ``tau_m``), so a neuron's
    rate follows the Siegert rate of its momentary mean input; the average over the drive's
    values (``drive_mV``, 200 quantiles) is matched to the target by bisection, all neurons at
    once on a tabulated Siegert curve.
    """
    theta = p.v_thresh_mV - p.v_rest_mV
    grid = np.linspace(-40.0, theta + 80.0, 800)
    log_rate = np.log(np.maximum(siegert_rate(grid, p), 1e-12))
    levels = np.quantile(drive_mV, (np.arange(200) + 0.5) / 200)

    def mean_rate(mu: np.ndarray) -> np.ndarray:
        x = mu[:, None] + drive_gain[:, None] * levels[None, :]
        return np.exp(np.interp(x, grid, log_rate)).mean(axis=1)

    lo = np.full(target_hz.size, grid[0])
    hi = np.full(target_hz.size, grid[-1] - drive_gain * levels.max())
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        high = mean_rate(mid) > target_hz
        hi = np.where(high, mid, hi)
        lo = np.where(high, lo, mid)
    return 0.5 * (lo + hi)


def draw_culture(p: CultureParams) -> Culture:
    """Connectivity, PSPs, delays, gap pairs, drive and pad gains, all from ``p.seed``."""
    p.check()
    rng = np.random.default_rng([p.seed, 1])
    n = p.neurons
    excitatory = np.zeros(n, dtype=bool)
    excitatory[rng.permutation(n)[: int(round(p.exc_fraction * n))]] = True
    pre, post = _random_pairs(rng, n, p.p_connect)
    size = np.exp(rng.normal(math.log(p.psp_median_mV), p.psp_sigma, pre.size))
    size = np.where(excitatory[pre], size, size * p.inh_psp_scale)
    size = np.clip(size, p.psp_min_mV, p.psp_max_mV)
    psp = np.where(excitatory[pre], size, -size)
    step = p.dt_ms
    delay = np.round(rng.uniform(p.delay_min_ms, p.delay_max_ms, pre.size) / step) * step
    gap_a, gap_b = _gap_pairs(rng, n, p.n_gap, pre, post)
    pad_gain = np.minimum(np.exp(rng.normal(math.log(p.coupling_median), p.coupling_sigma, n)),
                          p.coupling_max)
    drive_gain = rng.uniform(0.5, 1.5, n)
    target = p.rate_hz * np.exp(rng.normal(-0.5 * p.rate_spread**2, p.rate_spread, n))
    target = np.clip(target, 0.05, 50.0)
    silent = np.zeros(n, dtype=bool)
    silent[rng.permutation(n)[: int(round(p.silent_fraction * n))]] = True
    mu = calibrate_mu(target, drive_gain, shared_drive(p), p)
    # subtract what the neuron gets on average from elsewhere (at the requested rates) ...
    tau_s = np.where(psp > 0, p.tau_e_ms, p.tau_i_ms)
    jump = psp / np.array([psp_per_jump(p.tau_m_ms, t) for t in (p.tau_e_ms, p.tau_i_ms)])[
        (psp < 0).astype(int)]
    recurrent = np.bincount(post, weights=jump * tau_s * 1e-3 * target[pre], minlength=n)
    adaptation = p.adapt_mV * p.tau_adapt_ms * 1e-3 * target
    mu = mu - recurrent + adaptation
    # ... and the membrane variance its synaptic inputs add, so noise_mV is the total
    energy = np.array([psp_energy_s(p.tau_m_ms, t) for t in (p.tau_e_ms, p.tau_i_ms)])[
        (psp < 0).astype(int)]
    shot_var = np.bincount(post, weights=target[pre] * psp**2 * energy, minlength=n)
    sigma = np.sqrt(np.maximum(p.noise_mV**2 - shot_var, 0.0))
    mu = mu + colored_noise_shift(sigma, shot_var, p)
    mu = np.where(silent, -5.0, mu)  # silent neurons sit below rest; they only receive
    return Culture(p, excitatory, pre, post, psp, delay, gap_a, gap_b, mu, drive_gain, pad_gain,
                   sigma, silent)


def _random_pairs(rng: np.random.Generator, n: int, prob: float) -> tuple[np.ndarray, ...]:
    """Ordered pairs (no self-connections), each present with probability ``prob``."""
    pres, posts = [], []
    rows = max(1, 2_000_000 // n)
    for first in range(0, n, rows):
        block = rng.random((min(rows, n - first), n)) < prob
        i, j = np.nonzero(block)
        i = i + first
        keep = i != j
        pres.append(i[keep])
        posts.append(j[keep])
    return np.concatenate(pres).astype(np.int64), np.concatenate(posts).astype(np.int64)


def _gap_pairs(rng, n: int, count: int, pre: np.ndarray, post: np.ndarray):
    """``count`` distinct unordered pairs not already chemically connected."""
    taken = set(zip(np.minimum(pre, post).tolist(), np.maximum(pre, post).tolist(),
                    strict=True))
    pairs: list[tuple[int, int]] = []
    count = min(count, n * (n - 1) // 2 - len(taken))
    while len(pairs) < count:
        a, b = sorted(rng.choice(n, 2, replace=False).tolist())
        if (a, b) not in taken:
            taken.add((a, b))
            pairs.append((a, b))
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _envelope(p: CultureParams, t_s: np.ndarray) -> np.ndarray:
    """The burst envelope, peak 1: a difference of exponentials."""
    rise, decay = p.burst_rise_ms * 1e-3, p.burst_decay_ms * 1e-3
    t_peak = rise * decay * math.log(decay / rise) / (decay - rise)
    norm = math.exp(-t_peak / decay) - math.exp(-t_peak / rise)
    return (np.exp(-t_s / decay) - np.exp(-t_s / rise)) / norm


def shared_drive(p: CultureParams, dt_s: float = 1e-3) -> np.ndarray:
    """The burst drive (mV at sensitivity 1) sampled every ``dt_s`` over the whole run.

    Small whatever the length (one value per millisecond); burst times are Poisson.
    """
    rng = np.random.default_rng([p.seed, 2])
    steps = int(math.ceil(p.seconds / dt_s)) + 1
    drive = np.zeros(steps)
    n_bursts = rng.poisson(p.burst_hz * p.seconds)
    if n_bursts == 0 or p.burst_mV == 0:
        return drive
    onsets = np.sort(rng.uniform(0, p.seconds, n_bursts))
    amp = p.burst_mV * np.exp(rng.normal(0.0, 0.2, n_bursts))
    impulses = np.zeros(steps)
    np.add.at(impulses, np.minimum((onsets / dt_s).astype(int), steps - 1), amp)
    kernel = _envelope(p, np.arange(int(10 * p.burst_decay_ms * 1e-3 / dt_s)) * dt_s)
    from scipy.signal import fftconvolve

    return fftconvolve(impulses, kernel)[:steps]


EQUATIONS = """
dv/dt = (mu + drive_gain * shared(t) + I_e + I_i + I_gap + I_n - w_a - (v - v_rest)) / tau_m
    : volt (unless refractory)
I_n : volt
sigma_n : volt (constant)
dI_e/dt = -I_e / tau_e : volt
dI_i/dt = -I_i / tau_i : volt
dw_a/dt = -w_a / tau_adapt : volt
ap = clip((t - lastspike) / tau_ap, 0, 50) : 1
v_rec = v + (ap_peak - v_reset) * ap * exp(1 - ap) : volt
mu : volt (constant)
drive_gain : 1 (constant)
I_gap : volt
n_spikes : integer
"""


def build_network(c: Culture, target: str = "cython"):
    """The Brian2 Network of the culture and the StateMonitor of ``v_rec`` at 5 kHz."""
    import brian2 as b2

    p = c.params
    b2.prefs.codegen.target = target
    b2.seed(p.seed)
    ms, mV = b2.ms, b2.mV
    dt = p.dt_ms * ms
    drive_dt = 1e-3
    shared = b2.TimedArray(shared_drive(p, drive_dt) * mV, dt=drive_dt * b2.second)
    namespace = {
        "tau_m": p.tau_m_ms * ms, "tau_e": p.tau_e_ms * ms, "tau_i": p.tau_i_ms * ms,
        "tau_adapt": p.tau_adapt_ms * ms, "tau_ap": p.tau_ap_ms * ms,
        "v_rest": p.v_rest_mV * mV, "v_reset": p.v_reset_mV * mV,
        "v_thresh": p.v_thresh_mV * mV, "ap_peak": p.ap_peak_mV * mV,
        "adapt": p.adapt_mV * mV, "shared": shared,
    }
    group = b2.NeuronGroup(p.neurons, EQUATIONS, threshold="v > v_thresh",
                           reset="v = v_reset\nw_a += adapt\nn_spikes += 1",
                           refractory=p.refractory_ms * ms, method="euler", dt=dt,
                           namespace=namespace, name="culture")
    rng = np.random.default_rng([p.seed, 3])
    group.v = (p.v_rest_mV + rng.uniform(0, p.v_thresh_mV - p.v_rest_mV, p.neurons)) * mV
    group.mu = c.mu_mV * mV
    group.drive_gain = c.drive_gain
    # background noise: a current redrawn every noise_block_ms (one normal draw per neuron
    # and block rather than per step: the draws were half the run time); for blocks much
    # shorter than tau_m the membrane sees white noise of std sigma_mV
    group.sigma_n = c.sigma_mV * math.sqrt(2.0 * p.tau_m_ms / p.noise_block_ms) * mV
    group.run_regularly("I_n = sigma_n * randn()", dt=p.noise_block_ms * ms, when="start",
                        name="noise")
    objects = [group]
    for name, keep, current, tau in (("exc", c.psp_mV > 0, "I_e", p.tau_e_ms),
                                     ("inh", c.psp_mV < 0, "I_i", p.tau_i_ms)):
        if not keep.any():
            continue
        syn = b2.Synapses(group, group, "J : volt (constant)", on_pre=f"{current}_post += J",
                          dt=dt, name=name)
        syn.connect(i=c.pre[keep], j=c.post[keep])
        syn.J = c.psp_mV[keep] / psp_per_jump(p.tau_m_ms, tau) * mV
        syn.delay = c.delay_ms[keep] * ms
        objects.append(syn)
    if c.gap_a.size:
        gap = b2.Synapses(group, group, "g : 1 (constant)\n"
                          "I_gap_post = g * (v_rec_pre - v_rec_post) : volt (summed)",
                          dt=dt, namespace=namespace, name="gap")
        gap.connect(i=np.concatenate([c.gap_a, c.gap_b]), j=np.concatenate([c.gap_b, c.gap_a]))
        gap.g = p.gap_coupling
        objects.append(gap)
    monitor = b2.StateMonitor(group, "v_rec", record=True, dt=dt * p.record_every,
                              name="trace")
    objects.append(monitor)
    return b2.Network(*objects), group, monitor


class Simulation:
    """One Brian2 run of a culture, handed out segment by segment."""

    def __init__(self, c: Culture, target: str = "cython"):
        self.culture = c
        self.net, self.group, self.monitor = build_network(c, target)

    def run(self, sink: Callable[[int, np.ndarray], None]) -> None:
        """Call ``sink(first sample, v_rec in mV as float32 samples x neurons)`` once per
        ``segment_s`` of simulated time; the monitor is emptied after each call, so memory
        holds one segment.

        One ``Network.run`` with a network operation at each segment boundary: a ``run`` per
        segment would regenerate every code object each time (about a second per segment).
        """
        import brian2 as b2

        p = self.culture.params
        per_segment = max(1, int(round(p.segment_s * RECORD_HZ)))
        sample_s = p.dt_ms * 1e-3 * p.record_every
        done = [0]

        def flush() -> None:
            values = np.asarray(self.monitor.variables["v_rec"].get_value())  # volt
            if values.shape[0]:
                sink(done[0], (values * 1e3).astype(np.float32))
                done[0] += values.shape[0]
                self.monitor.resize(0)

        # at the start of a step the monitor holds exactly the samples of the steps before
        op = b2.NetworkOperation(flush, dt=per_segment * sample_s * b2.second, when="start",
                                 name="segment_flush")
        self.net.add(op)
        self.net.run(p.n_samples * sample_s * b2.second, namespace={})
        flush()
        if done[0] != p.n_samples:
            raise RuntimeError(f"recorded {done[0]} samples, expected {p.n_samples}")

    def spike_counts(self) -> np.ndarray:
        return np.asarray(self.group.n_spikes[:])


class Array:
    """The recording array: pad gains, recording noise and int16 counts, block by block."""

    def __init__(self, c: Culture):
        self.params = c.params
        self.gain = c.pad_gain.astype(np.float32)
        self.rng = np.random.default_rng([c.params.seed, 4])
        self.rest = np.float32(c.params.v_rest_mV)

    @property
    def conversion(self) -> float:
        """Volts per count."""
        return self.params.lsb_uV * 1e-6

    def counts(self, block_mV: np.ndarray) -> np.ndarray:
        """Membrane potential (mV) -> what the pads record, in int16 counts."""
        p = self.params
        trace = (block_mV - self.rest) * self.gain
        if p.record_noise_mV > 0:
            trace += self.rng.standard_normal(trace.shape, dtype=np.float32) * np.float32(
                p.record_noise_mV)
        counts = np.rint(trace * np.float32(1e3 / p.lsb_uV))
        return np.clip(counts, -32768, 32767).astype(np.int16)
