"""State machines with a flip-flop per state (one-hot), or binary as ``m.FSM`` encodes them.

Why one-hot: Amaranth's ``m.FSM`` encodes its states in binary, so every "in state S" test
decodes the state register and every transition reaches that register's clock enable through
the decode. On the iCE40 UP5K the host bridge's and the core's state registers were the
critical paths (bench/README.md, "FPGA"). With a flip-flop per state, "in S" is that
flip-flop, and a transition clears one and sets another. ``one_hot=False`` keeps the binary
register (the earlier design) so that the bench can build both from one description.
"""

from __future__ import annotations

from amaranth import Module, Signal


class StateMachine:
    """States ``states`` of module ``m``, ``init`` the one after reset: ``fsm[S]`` is high in
    state S (a flip-flop when one-hot), and ``fsm.goto(S, T)``, under the transition's condition
    while in S, moves to T."""

    def __init__(self, m: Module, states: list[str], init: str, name: str = "st",
                 one_hot: bool = True):
        self.m = m
        self.one_hot = one_hot
        self.code = {s: i for i, s in enumerate(states)}
        if one_hot:
            self.flags = {s: Signal(name=f"{name}_{s.lower()}", init=s == init)
                          for s in states}
        else:
            self.state = Signal(range(len(states)), name=f"{name}_state", init=self.code[init])
            self.flags = {s: Signal(name=f"{name}_{s.lower()}") for s in states}
            m.d.comb += [f.eq(self.state == self.code[s]) for s, f in self.flags.items()]

    def __getitem__(self, state: str) -> Signal:
        return self.flags[state]

    def goto(self, src: str, dst: str) -> None:
        if src == dst:
            return
        if self.one_hot:
            self.m.d.sync += [self.flags[src].eq(0), self.flags[dst].eq(1)]
        else:
            self.m.d.sync += self.state.eq(self.code[dst])
