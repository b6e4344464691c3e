#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a loop.

For every crate of the workspace, each `.rs` file under `src/` is a module (`a/b.rs` and
`a/b/mod.rs` are `a::b`). A reference `crate::x::y::z` (in a `use` or inline) or a relative
`super::…`/`self::…` path is an edge from the referring module to the deepest module the path
names. Edges are then compared among siblings: an edge from anything inside `a` to anything
inside `b`, where `a` and `b` share a parent, is an edge `a -> b` at that level. A cycle among
siblings is a tangle the crate's layering forbids (ARCHITECTURE.md, "Architecture
invariants"). A parent using its own children, or children using their parent, is the module
tree itself and is not counted. Unit tests (`#[cfg(test)] mod tests` at the end of a file, or
a `tests.rs` module) are not counted either: they may reach anywhere.

Usage: scripts/check-module-cycles.py [CRATE_DIR ...]   (default: every workspace member)
Exit status 0 when there are no cycles, 1 with each cycle printed otherwise.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)


def members():
    text = (ROOT / "Cargo.toml").read_text()
    block = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    return [ROOT / m for m in re.findall(r'"([^"]+)"', block.group(1))] if block else []


def module_of(src: Path, file: Path):
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        parts = []
    return tuple(parts)


def strip(text: str) -> str:
    """The file without comments and its trailing unit-test module."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests\b", text)
    return text[: cut.start()] if cut else text


def resolve(modules, here, kind, segments):
    if kind == "crate":
        base = ()
    elif kind == "self":
        base = here
    else:
        base = here[:-1]
        while segments and segments[0] == "super":
            base, segments = base[:-1], segments[1:]
    path = base + tuple(segments)
    while path and path not in modules:
        path = path[:-1]
    return path


def references(text):
    for m in PATH_RE.finditer(text):
        yield m.group(1), [s for s in m.group(2).split("::") if s]
    for m in USE_GROUP_RE.finditer(text):
        prefix = [s for s in m.group(2).split("::") if s]
        for item in re.split(r"[,{}]", m.group(3)):
            name = item.strip().split(" as ")[0].split("::")[0].strip()
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or "") and name != "self":
                yield m.group(1), prefix + [name]


def crate_cycles(crate: Path):
    src = crate / "src"
    # Test modules (`tests.rs` beside a module, `#[cfg(test)] mod tests;`) may reach anywhere.
    files = {m: f for f in src.rglob("*.rs") if "tests" not in (m := module_of(src, f))}
    modules = set(files)
    edges = set()
    for here, file in files.items():
        for kind, segments in references(strip(file.read_text(encoding="utf-8"))):
            target = resolve(modules, here, kind, segments)
            edges.add((here, target))
    # Project every edge onto the level where the two ends part.
    levels = {}
    for a, b in edges:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        if n == len(a) or n == len(b):
            continue  # one contains the other: the module tree itself
        parent = a[:n]
        levels.setdefault(parent, set()).add((a[n], b[n]))
    cycles = []
    for parent, pairs in sorted(levels.items()):
        graph = {}
        for x, y in pairs:
            graph.setdefault(x, set()).add(y)
        cycles.extend((parent, c) for c in find_cycles(graph))
    return cycles


def find_cycles(graph):
    """One cycle per strongly connected component with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv):
    crates = [Path(a).resolve() for a in argv] or members()
    failed = False
    for crate in crates:
        if not (crate / "src").is_dir():
            continue
        for parent, component in crate_cycles(crate):
            failed = True
            where = "::".join(parent) or "crate root"
            print(f"{crate.name}: modules of {where} import each other in a loop: {', '.join(component)}")
    if not failed:
        print(f"check-module-cycles: no module import cycles in {len(crates)} crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
