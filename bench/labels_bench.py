"""How long 1,000 location labels take to render: PDF on A4 3×8 sheets, and ZPL.

Run as ``.venv/bin/python bench/labels_bench.py``. The target is under 10 s for the PDF.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanapp.labels import LocationLabel, render_pdf, render_zpl  # noqa: E402
from scanapp.labels.render import qr_code  # noqa: E402

COUNT = 1000
TARGET_S = 10.0


def main() -> int:
    labels = [
        LocationLabel(
            f"WH1-{chr(65 + i // 250)}-{i // 10 % 25 + 1:02d}-{i % 10 + 1:02d}",
            "Main warehouse" if i % 2 else "上海仓库",
            f"Zone {chr(65 + i // 250)}",
            ("up", "down", None)[i % 3],
        )
        for i in range(COUNT)
    ]
    render_pdf(labels[:3], "a4-3x8")  # load fonts once; not what a sheet costs
    qr_code.cache_clear()

    start = time.perf_counter()
    pdf = render_pdf(labels, "a4-3x8")
    pdf_s = time.perf_counter() - start

    start = time.perf_counter()
    zpl = render_zpl(labels, "50x30", 203)
    zpl_s = time.perf_counter() - start

    pages = -(-COUNT // 24)
    print(f"PDF: {COUNT} location labels, {pages} A4 pages, {len(pdf) / 1024:.0f} KiB in {pdf_s:.2f} s")
    print(f"ZPL: {COUNT} location labels, {len(zpl) / 1024:.0f} KiB in {zpl_s:.2f} s")
    if pdf_s >= TARGET_S:
        print(f"FAIL: over the {TARGET_S:.0f} s target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
