#!/usr/bin/env python3
"""Prints the README's claims table from a run's claims.md (`sabench check` writes it):
   python3 scripts/readme-claims-table.py results/reference/claims.md
Each row: the claim, the statement, the article's numbers, our ratio (3 significant
figures, its 95 % interval, the metric; × when it is a ratio of two sides), the
threshold, the verdict (with the reason when it cannot decide, and "(gate)" for a gated
claim) and what the bench's own knobs did to it."""
import sys


def three(x):
    """A number to about three significant figures, with thousands separators."""
    x = float(x)
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ours(ratio, metric):
    if ratio.strip() in ("", "—"):
        return "—"
    value, _, p = ratio.partition(", p =")
    times = "×" if p else ""
    value = value.strip()
    if "[" in value:
        point, interval = value.split("[", 1)
        low, high = interval.rstrip("]").split("–")
        text = f"{three(point)} [{three(low)}–{three(high)}]"
    else:
        text = three(value)
    return f"{text}{times} ({metric})"


def main(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 13 or not cells[0].startswith("C") or cells[0] == "claim":
            continue
        claim, statement, article, metric, _w, _r, _l, ratio, threshold, verdict, why, gate, changed = cells
        if why not in ("", "—") and "cannot decide" in verdict:
            verdict = f"{verdict}: {why}"
        if gate == "yes":
            verdict += " (gate)"
        rows.append(f"| {claim} | {statement} | {article} | {ours(ratio, metric)} | {threshold} | {verdict} | {changed} |")
    print("| claim | what | the article | ours | threshold | verdict | the bench changed |")
    print("|---|---|---|---:|---:|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1])
