"""Fast nodal solver of a 1T1R tile: the netlist's own equations, Newton on a sparse system.

Unknowns are the read-line, mid-cell and column-line node voltages (3 R C of them). Wires and
memory elements are linear; each access transistor is the level-1 NMOS of
:mod:`neuropaste.netlists.tile`: body on the substrate node, ``gamma=0`` (so its threshold does
not depend on the source-bulk voltage and the substrate bias drops out of the drain current).
What the solver leaves out is the junction leakage ngspice adds: with the substrate at or below
every cell's source and drain both junctions are reverse biased and carry their saturation
current (IS = 1e-14 A) plus GMIN (1e-12 S) times a fraction of a volt, below 1e-12 A per cell,
about 1e-9 of a tile's full-scale current. :func:`cell_sources` gives the source voltages that
show the junctions reverse biased. Newton's method with a sparse direct solve (scipy SuperLU)
converges in a handful of iterations because the transistors sit in the triode region;
inactive rows carry no current and drop out exactly.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg import lapack

from neuropaste.devices import Electrical


def _level1(vgs: np.ndarray, vds: np.ndarray, beta, el: Electrical):
    """Drain current and its derivatives (gm = dI/dVgs, gds = dI/dVds), Vds >= 0."""
    vov = np.maximum(vgs - el.vto, 0.0)  # cut-off: every term below is zero
    lin = vds < vov
    clm = 1.0 + el.lam * vds
    v = np.minimum(vds, vov)  # triode: vds; saturation: the pinch-off vov
    core = (vov - v / 2) * v  # (vov - vds/2) vds, or vov^2 / 2
    i = beta * core * clm
    gm = beta * v * clm
    gds = beta * (np.where(lin, (vov - vds) * clm, 0.0) + el.lam * core)
    return i, gm, gds


def solve_tile_direct(g: np.ndarray, active: np.ndarray, el: Electrical,
                      cells_per_weight: int = 1, tol: float = 1e-13,
                      max_iter: int = 50) -> np.ndarray:
    """Column currents by full Newton on all 3 R C nodes (slow; the cross-check of solve_tile)."""
    rows, cols = g.shape
    n = rows * cols
    idx = np.arange(n).reshape(rows, cols)
    r_, m_, c_ = idx, idx + n, idx + 2 * n
    gw = 1.0 / el.r_wire
    a_rows, a_cols, a_vals = [], [], []

    def stamp(p, q, cond):
        """Conductance between unknown nodes p and q (arrays)."""
        a_rows.extend([p, q, p, q])
        a_cols.extend([p, q, q, p])
        a_vals.extend([cond, cond, -cond, -cond])

    def ground(p, cond):
        a_rows.append(p)
        a_cols.append(p)
        a_vals.append(cond)

    b = np.zeros(3 * n)
    # read lines: driver -> r[:,0] -> r[:,1] ...
    ground(r_[:, 0].ravel(), np.full(rows, gw))
    b[r_[:, 0]] += gw * el.v_read
    stamp(r_[:, :-1].ravel(), r_[:, 1:].ravel(), np.full(rows * (cols - 1), gw))
    # memory elements
    stamp(m_.ravel(), c_.ravel(), g.ravel().astype(np.float64))
    # columns: c[0,:] -> ... -> c[R-1,:] -> sense (0 V)
    stamp(c_[:-1, :].ravel(), c_[1:, :].ravel(), np.full((rows - 1) * cols, gw))
    ground(c_[-1, :].ravel(), np.full(cols, gw))
    a = sp.csr_matrix((np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))),
                      shape=(3 * n, 3 * n))
    vg = np.where(np.asarray(active, bool), el.v_gate, 0.0)[:, None] * np.ones((1, cols))
    vg = vg.ravel()
    beta = np.full(n, el.beta * cells_per_weight)
    rr, mm = r_.ravel(), m_.ravel()
    x = np.zeros(3 * n)
    x[r_.ravel()] = el.v_read
    for _ in range(max_iter):
        vds = x[rr] - x[mm]
        vgs = vg - x[mm]
        i_d, gm, gds = _level1(vgs, vds, beta, el)
        f = a @ x - b
        f[rr] += i_d
        f[mm] -= i_d
        jac = a + sp.csr_matrix(
            (np.concatenate([gds, -(gm + gds), -gds, gm + gds]),
             (np.concatenate([rr, rr, mm, mm]), np.concatenate([rr, mm, rr, mm]))),
            shape=a.shape)
        dx = spla.spsolve(jac.tocsc(), -f)
        x += dx
        if np.max(np.abs(dx)) < tol:
            break
    else:
        raise RuntimeError("tile solver did not converge")
    return x[c_[-1, :]] * gw


def _cells(vg, r, c, m, g, beta, el, iters: int = 60):
    """Each cell's internal node m for line voltages r, c (vectorised scalar Newton), and the
    cell current I = G (m - c) with its derivatives dI/dr and dI/dc."""
    for _ in range(iters):
        i_d, gm, gds = _level1(vg - m, r - m, beta, el)
        f = i_d - g * (m - c)
        s = gm + gds + g
        step = f / s
        m = m + step
        if np.max(np.abs(step), initial=0.0) < 1e-15:
            break
    i_d, gm, gds = _level1(vg - m, r - m, beta, el)
    s = gm + gds + g
    return m, g * (m - c), g * gds / s, -g * (gm + gds) / s


def _tridiagonal(diag: np.ndarray, off: float, rhs: np.ndarray) -> np.ndarray:
    """Solve many symmetric tridiagonal systems (one per row of ``diag``) in one LAPACK call:
    they are stacked into one tridiagonal matrix whose couplings between systems are zero."""
    batch, n = diag.shape
    du = np.full(batch * n - 1, off)
    du[n - 1::n] = 0.0
    dl = du.copy()
    *_, x, info = lapack.dgtsv(dl, diag.ravel().copy(), du, rhs.ravel().copy(),
                               overwrite_dl=1, overwrite_d=1, overwrite_du=1, overwrite_b=1)
    if info != 0:
        raise RuntimeError(f"tridiagonal solve failed (LAPACK dgtsv info {info})")
    return x.reshape(batch, n)


def _relax(g: np.ndarray, active: np.ndarray, el: Electrical, cells_per_weight: int,
           tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Line relaxation of :func:`solve_tile`: (active row indices, their read-line and cell
    source voltages, every column-line voltage)."""
    rows, cols = g.shape
    gw = 1.0 / el.r_wire
    on = np.flatnonzero(np.asarray(active, bool))  # rows off carry no current: r = v_read
    g_on = np.asarray(g, np.float64)[on]
    vg = np.full(g_on.shape, el.v_gate)
    beta = el.beta * cells_per_weight
    r = np.full(g_on.shape, el.v_read)
    c = np.zeros((rows, cols))
    m = np.zeros(g_on.shape)
    i0 = np.zeros((rows, cols))
    di_dc = np.zeros((rows, cols))
    ends_r = np.ones(cols)
    ends_r[-1] = 0.0  # the far end of a read line has one wire neighbour
    for _ in range(max_iter):
        m, i_on, di_dr, _ = _cells(vg, r, c[on], m, g_on, beta, el)
        diag = gw * (1.0 + ends_r)[None, :] + di_dr
        rhs = -i_on + di_dr * r
        rhs[:, 0] += gw * el.v_read
        r_new = _tridiagonal(diag, -gw, rhs) if len(on) else r
        m, i0[on], _, di_dc[on] = _cells(vg, r_new, c[on], m, g_on, beta, el)
        diag_c = np.full((cols, rows), 2 * gw) - di_dc.T  # column j as a row of the batch
        diag_c[:, 0] = gw - di_dc.T[:, 0]  # the top end: one wire neighbour
        rhs_c = i0.T - di_dc.T * c.T
        c_new = _tridiagonal(diag_c, -gw, rhs_c).T
        change = max(np.max(np.abs(r_new - r), initial=0.0), np.max(np.abs(c_new - c)))
        r, c = r_new, c_new
        if change < tol:
            break
    else:
        raise RuntimeError("tile solver did not converge")
    return on, r, m, c


def solve_tile(g: np.ndarray, active: np.ndarray, el: Electrical, cells_per_weight: int = 1,
               tol: float = 1e-14, max_iter: int = 200) -> np.ndarray:
    """Column currents (A, into each sense node) of tile ``g`` with rows ``active`` on.

    Line relaxation: the wires (1 ohm) conduct ~10^4 times better than a cell, so solving each
    read line and each column line exactly (a tridiagonal system, every line at once) with the
    cells linearised around the last voltages converges in a few sweeps. The cell's internal
    node is eliminated by a vectorised scalar Newton. At convergence this satisfies the same
    nodal equations as :func:`solve_tile_direct` and the netlist.
    """
    _, _, _, c = _relax(g, active, el, cells_per_weight, tol, max_iter)
    return c[-1, :] * (1.0 / el.r_wire)


def cell_sources(g: np.ndarray, active: np.ndarray, el: Electrical,
                 cells_per_weight: int = 1) -> np.ndarray:
    """Source voltage of every access transistor (R x C, V): on an inactive row the cell
    carries no current, so its source sits at the column line. ``min(...) - v_body`` is the
    smallest source-bulk reverse bias (>= 0: the junction is reverse biased)."""
    on, _, m, c = _relax(g, active, el, cells_per_weight, 1e-14, 200)
    out = c.copy()
    out[on] = m
    return out


def ideal_currents(g: np.ndarray, active: np.ndarray, el: Electrical) -> np.ndarray:
    """Sum of G x V_read over active rows: no wires, ideal switches."""
    return el.v_read * (np.asarray(active, np.float64) @ g)


def row_alone_conductance(g: np.ndarray, el: Electrical, cells_per_weight: int = 1,
                          only: np.ndarray | None = None, tol: float = 1e-12,
                          max_iter: int = 200, batch_cells: int = 1 << 21) -> np.ndarray:
    """Effective conductance (current / V_read) of every cell of tiles ``g`` (T x R x C) read
    with its row alone on, each row of each tile solved at once.

    With one word line on, the other cells of a column carry no current, so cell (r, j) sees
    its column as a plain (R - r) r_wire resistor to the sense node: it folds into the cell's
    series conductance, and each read line is one tridiagonal system in the cells linearised
    by Newton. This is :func:`solve_tile` with one row on, for every row in one batch, which
    is what the analog loop's linearised model and in-array verify need (one ``solve_tile``
    per row costs ~1 ms; here ~1 us per cell). ``only`` (T x R booleans): solve only these
    (the rest of the output is 0)."""
    g = np.asarray(g, np.float64)
    t_n, rows, cols = g.shape
    out = np.zeros_like(g)
    if el.r_wire == 0:
        raise ValueError("row_alone_conductance needs wires (r_wire > 0)")
    gw = 1.0 / el.r_wire
    r_col = el.r_wire * (rows - np.arange(rows, dtype=np.float64))  # column path to the sense
    pick = np.arange(t_n * rows) if only is None else np.flatnonzero(np.asarray(only).ravel())
    flat = g.reshape(-1, cols)[pick]
    series = 1.0 / (1.0 / np.maximum(flat, 1e-300) + np.tile(r_col, t_n)[pick][:, None])
    result = np.zeros_like(flat)
    ends = np.ones(cols)
    ends[-1] = 0.0
    beta = el.beta * cells_per_weight
    step = max(1, batch_cells // cols)
    for lo in range(0, len(flat), step):
        gs = series[lo:lo + step]
        vg = np.full(gs.shape, el.v_gate)
        r = np.full(gs.shape, el.v_read)
        m = np.zeros(gs.shape)
        zero = np.zeros(gs.shape)
        for _ in range(max_iter):
            m, i_on, di_dr, _ = _cells(vg, r, zero, m, gs, beta, el)
            diag = gw * (1.0 + ends)[None, :] + di_dr
            rhs = -i_on + di_dr * r
            rhs[:, 0] += gw * el.v_read
            r_new = _tridiagonal(diag, -gw, rhs)
            change = np.max(np.abs(r_new - r), initial=0.0)
            r = r_new
            if change < tol:
                break
        else:
            raise RuntimeError("row solver did not converge")
        m, i_on, _, _ = _cells(vg, r, zero, m, gs, beta, el)
        result[lo:lo + step] = i_on / el.v_read
    out.reshape(-1, cols)[pick] = result
    return out
