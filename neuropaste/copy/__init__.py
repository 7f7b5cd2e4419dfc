"""Copy: recordings in, a connectivity map out (issue 13).

Layer 3, beside the generators: it reads recordings through ``neuropaste.io.recording`` and
simulated cultures from ``neuropaste.sim.culture``, and writes maps that ``compile`` accepts.
"""
