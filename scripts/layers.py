#!/usr/bin/env python3
"""The house's floors, checked: prints the workspace crate graph (from
`cargo metadata`) floor by floor, the lines per crate, and fails if an arrow
runs upward (a crate depends on one on its own or a higher floor), if a
crate outside the transport floor pulls in chain or threshold libraries it
must not, or if the `crate::`/`super::` references between the source files
of a crate form a circle.

Usage: python3 scripts/layers.py [--quiet]
"""
import json
import os
import re
import subprocess
import sys

# Floors, bottom first. A crate may depend only on crates of lower floors.
FLOORS = [
    ["custos-wire", "custos-tss", "custos-policy", "custos-audit", "custos-governance"],
    ["custos-chains", "custos-net"],
    ["custos-protocol"],
    ["custos-node", "custos-server"],
    ["custos"],
]
# Libraries a crate must not pull in, even indirectly (normal dependencies).
FORBIDDEN = {
    "custos-net": ["alloy-consensus", "alloy-primitives", "solana-transaction", "bitcoin",
                   "frost-core", "cggmp24", "custos-tss", "custos-chains"],
    "custos-wire": ["custos-tss", "custos-chains", "custos-governance", "custos-audit",
                    "alloy-primitives", "cggmp24", "frost-core"],
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def floor_of(name):
    for i, floor in enumerate(FLOORS):
        if name in floor:
            return i
    return None


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--filter-platform", "x86_64-unknown-linux-gnu"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def closure(resolve, ids_by_name, start):
    """Names of every package `start` depends on through normal dependencies."""
    nodes = {n["id"]: n for n in resolve["nodes"]}
    seen, stack = set(), [ids_by_name[start]]
    while stack:
        pid = stack.pop()
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
    return {pid.split("#")[-1].split("@")[0].split("/")[-1] if "#" in pid else pid.split(" ")[0]
            for pid in seen} | {nodes[p].get("name", "") for p in seen if "name" in nodes[p]}


# ---- file-level references inside one crate ----

USE_RE = re.compile(r"\b(crate|super)::")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def module_files(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel[-1] in ("mod",):
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            mods[tuple(rel)] = os.path.join(dirpath, f)
    return mods


def strip_tests(text):
    """Drops `#[cfg(test)] mod … { … }` blocks (tests may use anything)."""
    out, i = [], 0
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?mod\s+\w+\s*\{", text[i:])
        if not m:
            out.append(text[i:])
            return "".join(out)
        start = i + m.start()
        out.append(text[i:start])
        depth, j = 0, i + m.end() - 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        i = j + 1


def paths_after(text, pos):
    """Expands the path starting at `pos` (after `crate::`), braces included."""
    def parse(i, prefix):
        result = []
        seg = []
        while i < len(text):
            m = IDENT.match(text, i)
            if m:
                seg.append(m.group(0))
                i = m.end()
                if text.startswith("::", i):
                    i += 2
                    if i < len(text) and text[i] == "{":
                        i += 1
                        while True:
                            while text[i].isspace() or text[i] == ",":
                                i += 1
                            if text[i] == "}":
                                i += 1
                                break
                            sub, i = parse(i, prefix + seg)
                            result += sub
                        return result, i
                    continue
                result.append(prefix + seg)
                return result, i
            if text[i] == "*":
                result.append(prefix + seg)
                return result, i + 1
            if text[i] == "{":
                i += 1
                while True:
                    while text[i].isspace() or text[i] == ",":
                        i += 1
                    if text[i] == "}":
                        return result, i + 1
                    sub, i = parse(i, prefix + seg)
                    result += sub
            result.append(prefix + seg)
            return result, i
        return result, i
    return parse(pos, [])[0]


def reexports(mods):
    """(module, name) -> defining module, for `pub use child::…::{names}`
    facades: a reference through a facade depends on the defining file."""
    alias = {}
    for mod, path in mods.items():
        text = strip_tests(open(path, encoding="utf-8").read())
        for m in re.finditer(r"^\s*pub(?:\([a-z]+\))?\s+use\s+(crate::|self::)?([a-z_][a-z0-9_]*)::", text, re.M):
            base = [] if m.group(1) == "crate::" else list(mod)
            for p in paths_after(text, m.start(2)):
                full = tuple(base + p[:-1])
                while full and full not in mods:
                    full = full[:-1]
                if full and full != mod and p:
                    alias[(mod, p[-1])] = full
    return alias


def file_edges(src):
    mods = module_files(src)
    alias = reexports(mods)
    edges = {}
    for mod, path in mods.items():
        text = strip_tests(open(path, encoding="utf-8").read())
        text = re.sub(r"//[^\n]*", "", text)
        targets = set()
        for m in USE_RE.finditer(text):
            # `super` of a/b.rs and of a/b/mod.rs is module a.
            base = [] if m.group(1) == "crate" else list(mod[:-1])
            for p in paths_after(text, m.end()):
                full = tuple(base + p)
                while full and full not in mods:
                    head, name = full[:-1], full[-1]
                    if (head, name) in alias:
                        full = alias[(head, name)]
                        break
                    full = head
                if full == () and p and ((), p[-1]) in alias and len(base + p) == 1:
                    full = alias[((), p[-1])]
                if full != mod:
                    targets.add(full)
        # A parent whose own code uses a child depends on it (a `pub use`
        # facade does not: references through it resolve to the child).
        for m in re.finditer(r"^\s*use\s+(?:self::)?([a-z_][a-z0-9_]*)::", text, re.M):
            child = tuple(list(mod) + [m.group(1)])
            if child in mods:
                targets.add(child)
        # Code that names a child module by its relative path (`child::f()`).
        body = re.sub(r"^\s*pub(?:\([a-z]+\))?\s+use\s[^;]*;", "", text, flags=re.M)
        for name in re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", text, re.M):
            child = tuple(list(mod) + [name])
            if child in mods and re.search(r"(?<![A-Za-z0-9_:])" + name + r"::", body):
                targets.add(child)
        edges[mod] = targets
    return mods, edges


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def lines(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            if f.endswith(".rs"):
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    total += sum(1 for _ in fh)
    return total


def main():
    quiet = "--quiet" in sys.argv
    meta = metadata()
    members = {p["id"]: p for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    names = {p["name"] for p in members.values()}
    problems = []
    print("Crate floors (bottom first); arrows are normal dependencies inside the workspace:")
    for i, floor in enumerate(FLOORS):
        for name in floor:
            if name not in names:
                problems.append(f"{name} is not a workspace member")
    for pid, p in sorted(members.items(), key=lambda kv: (floor_of(kv[1]["name"]) or 0, kv[1]["name"])):
        name = p["name"]
        f = floor_of(name)
        if f is None:
            problems.append(f"{name} is on no floor (add it to scripts/layers.py)")
            continue
        deps = sorted({d["name"] for d in p["dependencies"]
                       if d["name"] in names and d.get("kind") in (None, "normal")})
        dev = sorted({d["name"] for d in p["dependencies"]
                      if d["name"] in names and d.get("kind") == "dev"} - set(deps) - {name})
        for d in deps + dev:
            df = floor_of(d)
            if df is not None and df >= f:
                problems.append(f"upward or sideways arrow: {name} (floor {f}) -> {d} (floor {df})")
        src = os.path.join(os.path.dirname(p["manifest_path"]), "src")
        extra = f"  (tests also: {', '.join(dev)})" if dev else ""
        print(f"  floor {f}  {name:<18} {lines(os.path.dirname(p['manifest_path'])):>6} lines  -> {', '.join(deps) or '-'}{extra}")
    # Forbidden transitive dependencies.
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    pkg_name = {p["id"]: p["name"] for p in meta["packages"]}
    for crate, banned in FORBIDDEN.items():
        start = next((pid for pid, p in members.items() if p["name"] == crate), None)
        if start is None:
            continue
        seen, stack = set(), [start]
        while stack:
            v = stack.pop()
            for dep in nodes[v]["deps"]:
                if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                    seen.add(dep["pkg"])
                    stack.append(dep["pkg"])
        pulled = sorted({pkg_name[s] for s in seen} & set(banned))
        if pulled:
            problems.append(f"{crate} pulls in {', '.join(pulled)}")
        elif not quiet:
            print(f"  {crate}: none of {', '.join(banned)} in its dependency tree")
    # File-level circles.
    biggest = (0, "")
    for p in members.values():
        src = os.path.join(os.path.dirname(p["manifest_path"]), "src")
        mods, edges = file_edges(src)
        for comp in cycles(edges):
            files = sorted(os.path.relpath(mods[m], ROOT) for m in comp)
            problems.append(f"file-level circle in {p['name']}: {' <-> '.join(files)}")
        for f in mods.values():
            with open(f, encoding="utf-8") as fh:
                n = sum(1 for _ in fh)
            if n > biggest[0]:
                biggest = (n, os.path.relpath(f, ROOT))
    print(f"Biggest source file under crates/*/src: {biggest[1]} ({biggest[0]} lines)")
    if biggest[0] >= 600:
        problems.append(f"{biggest[1]} has {biggest[0]} lines (limit 600)")
    if problems:
        print("\nProblems:")
        for pr in problems:
            print(f"  - {pr}")
        sys.exit(1)
    print("No upward arrow, no file-level circle.")


if __name__ == "__main__":
    main()
