#!/usr/bin/env python3
"""Test functions (#[test], #[tokio::test], proptest cases) in two revisions:
counts, and which were removed, added or moved. Usage:
python3 scripts/test-names.py OLD_REV NEW_REV"""
import os
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import re,subprocess,sys,collections
def names(rev):
    files=subprocess.run(["git","-C",ROOT,"ls-tree","-r","--name-only",rev],capture_output=True,text=True).stdout.split()
    out=collections.Counter(); where={}
    for f in files:
        if not f.endswith(".rs") or not f.startswith("crates/"): continue
        src=subprocess.run(["git","-C",ROOT,"show",f"{rev}:{f}"],capture_output=True,text=True).stdout
        for m in re.finditer(r"#\[(?:tokio::)?test(?:\([^)]*\))?\]\s*(?:#\[[^\]]*\]\s*)*(?:async\s+)?fn\s+(\w+)",src):
            out[m.group(1)]+=1; where.setdefault(m.group(1),[]).append(f)
    return out,where
a,wa=names(sys.argv[1]); b,wb=names(sys.argv[2])
print("before:",sum(a.values()),"after:",sum(b.values()))
print("removed:",sorted((a-b).elements()))
print("added:",sorted((b-a).elements()))
for n in sorted(set(a)&set(b)):
    if sorted(wa[n])!=sorted(wb[n]): print("moved:",n,wa[n],"->",wb[n])
