"""Text that reaches SPICE or Verilog: safe by construction, whatever a user's map or file says.

Every name, comment, path and parameter a generator writes into a netlist or a Verilog file
goes through one of these functions:

- :func:`comment` for free text inside a comment line (``* key = value``, ``// key = value``):
  printable ASCII stays, everything else (newline, carriage return, tab, control and
  non-ASCII characters, the backslash itself) becomes a ``\\xNN`` / ``\\uNNNN`` escape, and the
  two sequences that mean something inside a comment elsewhere, ``*/`` and the Verilog
  backtick, are escaped too. A comment can then never end its line, so a ``.control`` block,
  a ``shell`` command or a Verilog directive in a device name stays inert text.
- :func:`identifier` for names that become SPICE or Verilog identifiers: ``[A-Za-z0-9_]`` only,
  anything else refused.
- :func:`include_path` for file names in ``.include`` lines: a relative path of
  ``[A-Za-z0-9_.-]`` parts, quoted; anything else refused.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[ -~]")  # printable ASCII
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9][A-Za-z0-9_]*")
_PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def comment(value: object) -> str:
    """``value`` as text that cannot leave the comment it is written in."""
    out = []
    for ch in str(value):
        plain = _PLAIN.fullmatch(ch) is not None and ch not in "\\`"
        out.append(ch if plain else _escape(ch))
    return "".join(out).replace("*/", "*\\x2f")


def identifier(name: str) -> str:
    """``name`` if it is a plain identifier; ValueError naming it otherwise."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def include_path(path: str) -> str:
    """A quoted relative path for ``.include``; ValueError for anything else."""
    parts = str(path).split("/")
    if not parts or any(not _PATH_PART.fullmatch(p) or p in (".", "..") for p in parts):
        raise ValueError(f"not a safe relative path for .include: {path!r}")
    return f'"{path}"'
