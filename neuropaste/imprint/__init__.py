"""Imprint: recorded (or reference-run) spikes drive an N x N crossbar; STDP writes the map."""
