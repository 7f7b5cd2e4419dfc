"""The dependency rule of docs/architecture.md: imports point down the layers, never up.

Every module of the package is read with ``ast`` (imports inside functions included, relative
imports resolved) and given its layer; an import of a higher layer, of a sibling package in
layer 2, or of another module's private name fails the test, naming the file and the line.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: module prefix -> layer; the longest matching prefix wins (docs/architecture.md)
LAYERS = {
    "neuropaste": 1,  # core: map, IR, events, reference model, compiled directory, ...
    "neuropaste.io": 2,
    "neuropaste.hdl": 2,
    "neuropaste.netlists": 2,
    "neuropaste.sim": 2,
    "neuropaste.generators": 3,
    "neuropaste.copy": 3,
    "neuropaste.imprint": 3,
    "neuropaste.compile": 4,
    "neuropaste.verify": 5,
    "neuropaste.fpga": 5,
    "neuropaste.report": 5,
    "neuropaste.estimate": 5,
    "neuropaste.host": 5,
    "neuropaste.cli": 6,
    "neuropaste.demo": 6,
    "neuropaste.__main__": 6,
}
#: layer-1 modules by name: anything else directly under neuropaste/ must be placed above
CORE = {"neuropaste", "neuropaste.cmap", "neuropaste.ir", "neuropaste.errors",
        "neuropaste.outputs", "neuropaste.events", "neuropaste.reference",
        "neuropaste.compiled", "neuropaste.addresses", "neuropaste.devices",
        "neuropaste.neuron", "neuropaste.protocol", "neuropaste.text", "neuropaste.tiles",
        "neuropaste.plasticity"}


def package_dirs() -> dict[str, Path]:
    """Package name -> folder, as setuptools maps them (pyproject.toml)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {pkg: ROOT / folder for pkg, folder in cfg["tool"]["setuptools"]["package-dir"].items()}


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    out = {}
    for pkg, folder in package_dirs().items():
        for path in folder.glob("*.py"):
            name = pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"
            out[name] = path
        for sub in folder.iterdir():  # sub-packages not mapped on their own (neuropaste.io ...)
            dotted = f"{pkg}.{sub.name}"
            if sub.is_dir() and (sub / "__init__.py").is_file() and dotted not in package_dirs():
                for path in sub.glob("*.py"):
                    out[dotted if path.stem == "__init__" else f"{dotted}.{path.stem}"] = path
    return out


def layer(module: str) -> int:
    if module in CORE:
        return 1
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    if best == "neuropaste":
        raise AssertionError(f"{module} has no layer: add it to docs/architecture.md and to "
                             "LAYERS or CORE in this test")
    return LAYERS[best]


def package_of(module: str) -> str:
    """The layer-2 package a module belongs to (its first two name parts)."""
    return ".".join(module.split(".")[:2])


def imports(name: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names imported from it) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.stem == "__init__"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([target] if target else []))
            out.append((node.lineno, target, [a.name for a in node.names]))
    return out


def violations(mods: dict[str, Path]) -> list[str]:
    found = []
    known = set(mods)
    for name, path in sorted(mods.items()):
        here = layer(name)
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, target, names in imports(name, path):
            if not (target == "neuropaste" or target.startswith("neuropaste.")):
                continue
            # ``from pkg import module`` imports a module, not a name
            targets = [f"{target}.{n}" if f"{target}.{n}" in known else target for n in names]
            for t, n in zip(targets or [target], names or [""], strict=False):
                there = layer(t)
                if there > here:
                    found.append(f"{where}:{line}: {name} (layer {here}) imports {t} "
                                 f"(layer {there})")
                elif here == there == 2 and package_of(t) != package_of(name):
                    found.append(f"{where}:{line}: {name} imports {t}, another layer-2 package")
                if n.startswith("_") and t != name and t == target:
                    found.append(f"{where}:{line}: {name} imports the private name {n} of {t}")
    return found


def test_every_module_has_a_layer() -> None:
    mods = modules()
    assert "neuropaste.verify.rtl" in mods and "neuropaste.generators.rtl" in mods
    for name in mods:
        layer(name)


def test_imports_point_down() -> None:
    found = violations(modules())
    assert not found, "imports against docs/architecture.md:\n" + "\n".join(found)


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The rule can fail: a core module that imports a backend is reported."""
    bad = tmp_path / "ir.py"
    bad.write_text((ROOT / "neuropaste" / "ir.py").read_text()
                   + "\nfrom neuropaste.generators.rtl import emit  # noqa\n"
                   + "from neuropaste.sim.solver import _private  # noqa\n")
    mods = {**modules(), "neuropaste.ir": bad}
    found = violations(mods)
    assert any("neuropaste.ir (layer 1) imports neuropaste.generators.rtl (layer 3)" in f
               for f in found), found
    assert any("private name _private" in f for f in found), found


def test_a_sideways_import_in_layer_2_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "solver.py"
    bad.write_text("from neuropaste.netlists.tile import tile_circuit\n")
    found = violations({**modules(), "neuropaste.sim.solver": bad})
    assert any("another layer-2 package" in f for f in found), found


@pytest.mark.parametrize("module", ["neuropaste.host", "neuropaste.protocol"])
def test_the_host_side_needs_no_gateware(module: str) -> None:
    path = modules()[module]
    targets = [t for _, t, _ in imports(module, path)]
    assert not [t for t in targets if t.startswith(("neuropaste.hdl", "amaranth"))], targets
