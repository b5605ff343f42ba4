#!/usr/bin/env python3
"""Draws throughput and p99 latency against connections as one SVG, without dependencies.

    python3 bench/plot.py sweep.tsv out.svg

sweep.tsv: lines of `series<TAB>connections<TAB>requests_per_s<TAB>p99_us`.
"""
import sys
from collections import defaultdict

rows = defaultdict(list)
with open(sys.argv[1]) as f:
    for line in f:
        parts = line.strip().split("\t")
        if len(parts) == 4:
            rows[parts[0]].append((int(parts[1]), float(parts[2]), float(parts[3])))

colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
W, H, M = 420, 300, 50


def panel(x0, title, index, unit):
    out = [f'<g transform="translate({x0},0)">',
           f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    conns = sorted({c for pts in rows.values() for c, _, _ in pts})
    top = max((p[index] for pts in rows.values() for p in pts), default=1.0) * 1.1 or 1.0
    xs = {c: M + i * (W - 2 * M) / max(len(conns) - 1, 1) for i, c in enumerate(conns)}
    y = lambda v: H - M - v / top * (H - 2 * M)
    out.append(f'<line x1="{M}" y1="{H-M}" x2="{W-M}" y2="{H-M}" stroke="black"/>')
    out.append(f'<line x1="{M}" y1="{M}" x2="{M}" y2="{H-M}" stroke="black"/>')
    for c, x in xs.items():
        out.append(f'<text x="{x}" y="{H-M+15}" text-anchor="middle" font-size="10">{c}</text>')
    out.append(f'<text x="{W/2}" y="{H-12}" text-anchor="middle" font-size="11">connections</text>')
    for k in range(5):
        v = top * k / 4
        out.append(f'<text x="{M-4}" y="{y(v)+3}" text-anchor="end" font-size="9">{v:,.0f}</text>')
    out.append(f'<text x="12" y="{H/2}" font-size="11" transform="rotate(-90 12 {H/2})" text-anchor="middle">{unit}</text>')
    for i, (name, pts) in enumerate(sorted(rows.items())):
        pts = sorted(pts)
        col = colors[i % len(colors)]
        path = " ".join(f"{xs[c]:.1f},{y((rps, p99)[index - 1]):.1f}" for c, rps, p99 in pts)
        out.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{path}"/>')
        out.append(f'<text x="{W-M+4}" y="{M + 14*i}" font-size="10" fill="{col}">{name}</text>')
    out.append("</g>")
    return "\n".join(out)


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2*W+120}" height="{H}" font-family="sans-serif">',
       '<rect width="100%" height="100%" fill="white"/>',
       panel(0, "verified requests/s", 1, "requests/s"),
       panel(W + 60, "p99 latency", 2, "µs"),
       "</svg>"]
with open(sys.argv[2], "w") as f:
    f.write("\n".join(svg))
