#!/usr/bin/env python3
"""Prints a Markdown table of criterion results (throughput and ratio to a baseline).

usage: scripts/criterion-table.py GROUP_DIR_PREFIX [BASELINE_ID]
e.g.   scripts/criterion-table.py chunk_periodic_f64 lz4_decompress
Reads target/criterion/<group>/<id>/new/{estimates,benchmark}.json.
"""
import json, os, sys, glob

root = os.path.join(os.path.dirname(__file__), "..", "target", "criterion")
prefix = sys.argv[1]
base_id = sys.argv[2] if len(sys.argv) > 2 else None
rows = []
for bench in sorted(glob.glob(os.path.join(root, prefix + "*", "*", "new", "benchmark.json"))):
    b = json.load(open(bench))
    est = json.load(open(os.path.join(os.path.dirname(bench), "estimates.json")))
    ns = est["mean"]["point_estimate"]
    tp = b.get("throughput") or {}
    n = tp.get("Elements") or tp.get("Bytes")
    unit = "elem/s" if "Elements" in tp else "B/s"
    rate = n / (ns * 1e-9) if n else None
    rows.append((b["group_id"], b.get("function_id") or b.get("value_str") or "", rate, unit, ns))
groups = {}
for r in rows:
    groups.setdefault(r[0], []).append(r)
for g, rs in groups.items():
    base = next((r[2] for r in rs if r[1] == base_id), None)
    print(f"\n| {g} | throughput | time/iter |" + (f" ratio to {base_id} |" if base else ""))
    print("| --- | --- | --- |" + (" --- |" if base else ""))
    for _, fid, rate, unit, ns in rs:
        r = f"{rate/1e6:,.0f} M{unit}" if rate else "-"
        line = f"| {fid} | {r} | {ns/1e3:,.1f} µs |"
        if base and rate:
            line += f" {rate/base:.2f} |"
        print(line)
