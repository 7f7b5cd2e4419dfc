"""The Yosys commands ``neuropaste fpga`` adds to the platform's script (``neuropaste_mem.ys``).

Why some memories get two commands: the iCE40 UP5K's SPRAM cannot be initialised by the
bitstream, and ``memory_libmap`` maps a memory there only if (a) it has no initialiser (Amaranth
always writes one, all zeros for ``init=[]``, so the ``$meminit_v2`` cell is deleted) and (b) it
is asked to (``ram_style = "huge"``; SPRAM costs more than block RAM in Yosys' tables, so it is
never chosen on its own). Both are applied only to memories with no non-zero contents, one read
and one write port on one address, and a read that is disabled while writing (SPRAM keeps its
output during a write, ``rdwr no_change``): the loadable fan-out table of
``LIFCore(fanout_loadable=True)``, which the host uploads.
"""

from __future__ import annotations

from typing import Any


def memory_script(fit: dict[str, Any]) -> str:
    """Yosys commands (run after ``read_rtlil``) that put the SPRAM memories on SPRAM."""
    lines = ["# neuropaste: memories placed on SPRAM (see neuropaste/fpga/yosys.py)"]
    for mem in fit["spram_memories"]:
        module, name = mem.rsplit(".", 1)
        sel = f"{_ysel(module)}/m:{name}"
        lines += [f"delete {_ysel(module)}/t:$meminit_v2 {_ysel(module)}/r:MEMID=\\{name} %i",
                  f"setattr -set ram_style \"huge\" {sel}"]
    return "\n".join(lines) + "\n"


def _ysel(module: str) -> str:
    return module.replace("$", "\\$")
