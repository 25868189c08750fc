#!/usr/bin/env python3
"""Prints the generated part of results/why.md from a run's summary.md: for each
workload, its "Why" sentences, mechanism table and recommendation, as `sabench report`
wrote them (the rules of src/report/why.rs and recommend.rs; nothing by hand):
   python3 scripts/why-from-summary.py results/reference/summary.md"""
import re
import sys


def main(path):
    out = []
    workload = None
    keep = False
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        heading = re.match(r"^## Workload `([^`]+)`", line)
        if heading:
            workload, keep = heading.group(1), False
            continue
        if line.startswith("## "):
            workload, keep = None, False
            continue
        if workload and line == "### Why":
            out.append(f"## Workload `{workload}`\n\n#### Why")
            keep = True
            continue
        if keep and line == "### Recommendation":
            out.append("#### Recommendation")
            continue
        if keep:
            out.append(line)
    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main(sys.argv[1])
