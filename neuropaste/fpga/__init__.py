"""``neuropaste fpga``: a compiled directory as a bitstream, split by job.

- :mod:`~neuropaste.fpga.boards`: the board catalog;
- :mod:`~neuropaste.fpga.fit`: the resource estimate, before synthesis;
- :mod:`~neuropaste.fpga.yosys`: the Yosys commands added to the platform's script;
- :mod:`~neuropaste.fpga.build`: the build runner (Amaranth platform, YoWASP tools);
- :mod:`~neuropaste.fpga.reports`: the report parser.
"""

from neuropaste.fpga.boards import BOARDS, Board
from neuropaste.fpga.build import build, prepare
from neuropaste.fpga.fit import MemoryUse, fit_message, plan_fit, survey_rtlil
from neuropaste.fpga.reports import parse_reports
from neuropaste.fpga.yosys import memory_script

__all__ = ["BOARDS", "Board", "MemoryUse", "build", "fit_message", "memory_script",
           "parse_reports", "plan_fit", "prepare", "survey_rtlil"]
