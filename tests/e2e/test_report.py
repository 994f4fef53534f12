"""repro report, looked at in a real headless browser (Debian's chromium), with no network."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from repro.store import Store
from tests.conftest import Project
from tests.e2e.browser import CHROMIUM_FLAGS

pytestmark = pytest.mark.docker


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB/RGBA, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def test_the_report_renders_its_table_and_plot_in_a_browser_offline(docker_project: Project, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("the report test needs Debian's chromium: sudo scripts/setup-host")
    project = docker_project
    project.manifest(
        command=["sh", "-c", 'echo "{{\\"missRate\\": $(( 64 / {size} )).{assoc}}}" > /out/metrics.json'],
        sweep={"size": [4, 8, 16], "assoc": [1, 2]},
        metrics={"file": "metrics.json", "format": "json"},
    )
    project.commit()
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    report = tmp_path / "report.html"
    made = project.repro("report", "-o", str(report), "--metric", "missRate", "--x", "size")
    assert made.code == 0, made.err
    text = report.read_text()
    assert "http" not in text.replace("http://www.w3.org/2000/svg", ""), "the page loads nothing from anywhere"

    profile = tmp_path / "profile"
    shot = tmp_path / "report.png"
    rendered = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1200,1000",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), rendered.stderr[-2000:]
    dom = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout

    runs = Store(project.store).runs()
    assert len(runs) == 6
    for row in runs:
        assert row.id in dom
    assert '<table id="runs">' in dom
    assert dom.count("<polyline") == 2, "one line per associativity"
    assert "missRate" in dom
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1200, 1000)
    colours = {row[i : i + 3] for row in rows[::10] for i in range(0, len(row), 40)}
    assert len(colours) > 10, "the screenshot is not blank"
    assert any(r > 150 and g < 100 for r, g, _ in colours), "a red plot line is drawn"


def test_a_markdown_report_writes_the_plot_beside_it(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", 'echo "{{\\"value\\": {n}}}" > /out/m.json'],
        sweep={"n": [1, 2, 3]},
        metrics={"file": "m.json", "format": "json"},
    )
    assert project.repro("run", "exp.yaml").code == 0
    result = project.repro("report", "-o", str(tmp_path / "report.md"))
    assert result.code == 0, result.err
    markdown = (tmp_path / "report.md").read_text()
    assert "![plot](report.svg)" in markdown
    assert markdown.count("| succeeded |") == 3
    assert "<polyline" in (tmp_path / "report.svg").read_text()
