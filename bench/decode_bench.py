"""Decode rate and speed of scanapp.scanning.decode on the dev half of the barcode photo set.

    .venv/bin/python bench/decode_bench.py [--dev-dir ../shared/barcodes/dev] [--every N] [--verbose]

About a minute and a half on one idle core (``--every 4`` for a quick look).

Measures, in one run and on one core:

- the dev images as they are (small photos, median long side 240 px);
- the "12 MP phone" path: each dev image pasted at its own size into a 4032 x 3024 frame at a seeded
  random position on a grey, textured background, JPEG-encoded in memory before the clock starts, so
  only bytes -> codes is timed (what a phone upload costs the server). At its own size the code is
  small in the frame, the hard case: it must be found and read from a full-size decode;

each for the chain (``decode()``), zxing-cpp alone and pyzbar alone (``decode(engines=...)``), plus
"zxing-cpp, one call": a single ``zxingcpp.read_barcodes`` with default options on the grey image, the
baseline the chain must not read more wrong texts than. Last, the chain on the same frames with the
dev image scaled to a third of the frame width, the usual way a code is photographed.

One core: the process is pinned to one CPU (``os.sched_setaffinity``) and OpenCV's thread pool is set
to one thread (``cv2.setNumThreads(1)``), so figures match one gunicorn worker on a busy server.

A "false read" is an image for which any returned code does not match the manifest. A photo can
show a second, real code the manifest does not list (``code39-3/08`` does); ``--verbose`` lists them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.manifest import FORMATS, Sample, load, matches  # noqa: E402
from scanapp.scanning.decode import decode  # noqa: E402

FRAME_W, FRAME_H = 4032, 3024
JPEG_QUALITY = 90
CLOSE_UP_SIDE = 1400  # a third of the frame width: how people photograph a code they mean to scan

MODES = {
    "chain": lambda data: decode(data),
    "zxing": lambda data: decode(data, engines=("zxing",)),
    "zbar": lambda data: decode(data, engines=("zbar",)),
}

# The baseline speaks zxing-cpp's names; map them onto the manifest's.
_BASELINE_NAMES = {
    "EAN-13": "EAN13", "EAN-8": "EAN8", "UPC-A": "UPCA", "UPC-E": "UPCE", "Code 128": "CODE128",
    "Code 39": "CODE39", "ITF": "ITF", "QR Code": "QRCODE", "Data Matrix": "DATAMATRIX", "PDF417": "PDF417",
}  # fmt: skip
_BASELINE_FORMATS = zxingcpp.barcode_formats_from_str(
    "EAN13,EAN8,UPCA,UPCE,Code128,Code39Std,ITF,QRCodeModel1,QRCodeModel2,DataMatrix,PDF417,CompactPDF417"
)


def baseline(data: bytes) -> list[tuple[str, str]]:
    """zxing-cpp as it comes: one read_barcodes call, default options, warehouse formats."""
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    out = []
    for bc in zxingcpp.read_barcodes(gray, formats=_BASELINE_FORMATS, text_mode=zxingcpp.TextMode.Plain):
        text = (bc.extra or {}).get("UPCE", bc.text) if bc.format == zxingcpp.BarcodeFormat.UPCE else bc.text
        out.append((_BASELINE_NAMES.get(str(bc.format), str(bc.format)), text))
    return out


def _codes(mode: str, data: bytes) -> list[tuple[str, str]]:
    if mode == "baseline":
        return baseline(data)
    return [(c.format, c.text) for c in MODES[mode](data)]


class Tally:
    """Per-mode results: hits per format, false reads, times."""

    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.false_reads: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.misses: list[str] = []
        self.cpu_ms: list[float] = []
        self.wall_ms: list[float] = []

    def add(self, sample: Sample, codes: list[tuple[str, str]], cpu_ms: float, wall_ms: float) -> None:
        self.total[sample.format] += 1
        self.cpu_ms.append(cpu_ms)
        self.wall_ms.append(wall_ms)
        hits = [matches(sample.format, sample.expected, fmt, text) for fmt, text in codes]
        if any(hits):
            self.ok[sample.format] += 1
        else:
            self.misses.append(sample.name)
        if not all(hits):
            self.false_reads.append((sample.name, sample.expected, codes))

    def rate(self, fmt: str | None = None) -> str:
        ok = self.ok[fmt] if fmt else sum(self.ok.values())
        total = self.total[fmt] if fmt else sum(self.total.values())
        return f"{100 * ok / total:5.1f}%" if total else "    -"

    def median(self, wall: bool = False) -> float:
        return statistics.median(self.wall_ms if wall else self.cpu_ms)

    def p95(self) -> float:
        ms = sorted(self.cpu_ms)
        return ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def timed(mode: str, data: bytes) -> tuple[list[tuple[str, str]], float, float]:
    """Codes, CPU ms and wall ms of one call.

    CPU time of the process is the headline figure: with one thread it is the time on one core and,
    unlike wall time, does not count the moments another process had the core (CI runners and
    shared dev machines are busy). Wall time is printed too.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    codes = _codes(mode, data)
    return codes, (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def background(rng: np.random.Generator) -> np.ndarray:
    """A grey frame with slow light fall-off, texture and sensor noise, like a phone shot of a carton.

    The texture is strong enough that the JPEG is about 2 MB, like a real 12 MP photo: a smooth frame
    compresses to a few hundred kB and decodes faster than anything a phone sends.
    """
    coarse = rng.normal(128, 18, (6, 8, 3)).clip(40, 220).astype(np.uint8)
    frame = cv2.resize(coarse, (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC)
    cv2.setRNGSeed(int(rng.integers(1 << 30)))
    grain = np.empty((FRAME_H // 2, FRAME_W // 2, 3), np.int16)
    cv2.randn(grain, 0, 24)
    noise = np.empty(frame.shape, np.int16)
    cv2.randn(noise, 0, 10)
    noise += cv2.resize(grain, (FRAME_W, FRAME_H), interpolation=cv2.INTER_LINEAR)
    return cv2.add(frame, noise, dtype=cv2.CV_8U)


def phone_jpeg(
    sample: Sample, bg: np.ndarray, rng: np.random.Generator, long_side: int | None = None
) -> bytes:
    """The sample pasted into ``bg`` at a random place, as it is or scaled to ``long_side``; JPEG bytes."""
    img = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
    if long_side:
        f = long_side / max(img.shape[:2])
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    h, w = img.shape[:2]
    x, y = int(rng.integers(0, FRAME_W - w)), int(rng.integers(0, FRAME_H - h))
    frame = bg.copy()
    frame[y : y + h, x : x + w] = img
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"could not encode a frame for {sample.name}")
    return buf.tobytes()


def report(title: str, tallies: dict[str, Tally], verbose: bool) -> None:
    print(f"\n== {title}")
    fmts = [f for f in FORMATS if any(t.total[f] for t in tallies.values())]
    print(f"{'':10}" + "".join(f"{m:>12}" for m in tallies))
    for fmt in fmts:
        n = next(iter(tallies.values())).total[fmt]
        print(f"{fmt:10}" + "".join(f"{t.rate(fmt):>12}" for t in tallies.values()) + f"   (n={n})")
    print(f"{'overall':10}" + "".join(f"{t.rate():>12}" for t in tallies.values()))
    print(f"{'false rd':10}" + "".join(f"{len(t.false_reads):>12}" for t in tallies.values()))
    print(
        f"{'median ms':10}" + "".join(f"{t.median():>12.1f}" for t in tallies.values()) + "   (CPU, one core)"
    )
    print(f"{'p95 ms':10}" + "".join(f"{t.p95():>12.1f}" for t in tallies.values()) + "   (CPU, one core)")
    print(f"{'wall med':10}" + "".join(f"{t.median(wall=True):>12.1f}" for t in tallies.values()))
    if verbose:
        for mode, t in tallies.items():
            for name, expected, codes in t.false_reads:
                print(f"  false read [{mode}] {name}: expected {expected!r}, got {codes!r}")
            print(f"  misses [{mode}]: {' '.join(t.misses)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev-dir", type=Path, default=REPO.parent / "shared" / "barcodes" / "dev")
    parser.add_argument("--every", type=int, default=1, help="use every Nth image (quick runs)")
    parser.add_argument("--phone-every", type=int, default=1, help="phone path on every Nth of those")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--no-close-ups", dest="close_ups", action="store_false", help="skip the close-up frames"
    )
    parser.add_argument("--verbose", action="store_true", help="list false reads and misses")
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)

    samples = load(args.dev_dir)[:: args.every]
    datas = [s.path.read_bytes() for s in samples]
    for mode in ("baseline", *MODES):  # first calls load libraries and build tables: not timed
        _codes(mode, datas[0])

    modes = ("chain", "zxing", "zbar", "baseline")
    small = {m: Tally() for m in modes}
    for sample, data in zip(samples, datas, strict=True):
        for mode in modes:
            small[mode].add(sample, *timed(mode, data))
    report(f"dev images ({len(samples)}, as uploaded)", small, args.verbose)

    rng = np.random.default_rng(args.seed)
    bg = background(rng)
    phone = {m: Tally() for m in modes[:3]}
    started = time.perf_counter()
    sizes = []
    for sample in samples[:: args.phone_every]:
        data = phone_jpeg(sample, bg, rng)
        sizes.append(len(data))
        for mode in phone:
            phone[mode].add(sample, *timed(mode, data))
    seconds = time.perf_counter() - started
    title = (
        f"12 MP phone JPEGs, dev image at its own size ({len(sizes)}, {FRAME_W}x{FRAME_H}, q{JPEG_QUALITY}, "
        f"median {statistics.median(sizes) / 1e6:.1f} MB; {seconds:.0f} s to build and time)"
    )
    report(title, phone, args.verbose)

    if args.close_ups:
        close = {"chain": Tally()}
        for sample in samples[:: args.phone_every * 2]:  # every other one: the run stays short
            data = phone_jpeg(sample, bg, rng, long_side=CLOSE_UP_SIDE)
            close["chain"].add(sample, *timed("chain", data))
        report(
            f"12 MP phone JPEGs, dev image scaled to {CLOSE_UP_SIDE} px (a close-up; chain only)",
            close,
            args.verbose,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
