"""Helpers for the pipeline example: read cachegrind's summary, draw a small SVG line chart.

No plotting library is needed: the chart is a few lines of SVG, which any browser shows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 640, 400, 60
BOTTOM, RIGHT, MIDDLE = HEIGHT - MARGIN, WIDTH - MARGIN, HEIGHT / 2
COLOURS = ["#1b6ca8", "#d1495b", "#66a182", "#edae49", "#6a4c93"]


def read_summary(path: Path) -> dict[str, int]:
    """cachegrind's ``events:`` and ``summary:`` lines as {event: count}."""
    events, summary = path.read_text().splitlines()[:2]
    return dict(zip(events.split()[1:], map(int, summary.split()[1:]), strict=True))


def miss_rate_svg(table: str) -> str:
    """D1 miss rate (y) against D1 size (x, log scale), one line per associativity."""
    lines = table.strip().splitlines()
    header = lines[0].split(",")
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        series[row["assoc"]].append((float(row["d1_size"]), float(row["miss_rate"])))
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x_low, x_high = math.log2(min(xs)), math.log2(max(xs))
    y_high = max(ys) * 1.1 or 1.0

    def place(x: float, y: float) -> tuple[float, float]:
        span = (x_high - x_low) or 1.0
        px = MARGIN + (math.log2(x) - x_low) / span * (WIDTH - 2 * MARGIN)
        py = BOTTOM - y / y_high * (HEIGHT - 2 * MARGIN)
        return px, py

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">D1 miss rate by D1 size</text>',
        f'<line x1="{MARGIN}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{BOTTOM}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 15}" text-anchor="middle">D1 size (bytes)</text>',
        f'<text x="15" y="{MIDDLE}" transform="rotate(-90 15 {MIDDLE})" text-anchor="middle">miss rate</text>',
    ]
    for x in sorted(set(xs)):
        px, _ = place(x, 0)
        parts.append(f'<text x="{px:.1f}" y="{BOTTOM + 18}" text-anchor="middle" font-size="11">{x:.0f}</text>')
    for step in range(5):
        y = y_high * step / 4
        _, py = place(min(xs), y)
        parts.append(f'<text x="{MARGIN - 6}" y="{py:.1f}" text-anchor="end" font-size="11">{y:.3f}</text>')
    for index, (assoc, points) in enumerate(sorted(series.items(), key=lambda item: int(item[0]))):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in (place(x, y) for x, y in sorted(points)))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(
            f'<text x="{RIGHT + 5}" y="{MARGIN + 18 * index}" fill="{colour}" font-size="12">{assoc}-way</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
