"""The barcode photo test set's manifest, and the normalised comparison its README prescribes.

Shared by ``bench/decode_bench.py`` and ``tests/test_decode.py`` so that "decoded correctly" means
the same thing in the benchmark and in the tests. Pure standard library.

The comparison rules come from ``shared/barcodes/README.md``:

- every format: ignore CR/LF vs LF, surrounding blanks, GS (0x1d) characters and a leading ``]xx``
  symbology identifier;
- EAN/UPC and ITF: compare digits and ignore leading zeros; UPC-E (8 digits) is expanded to UPC-A
  first, because the same physical code is written as UPC-E by one engine and as a 12/13-digit
  number by another.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

# The numeric retail symbologies are one family: a UPC-A is an EAN-13 with a leading 0 and zbar
# reports it as such, and a UPC-E is a compressed UPC-A. Which of these an engine names a symbol
# is not a misread; the digits decide.
FAMILY = {
    "EAN13": "EANUPC",
    "EAN8": "EANUPC",
    "UPCA": "EANUPC",
    "UPCE": "EANUPC",
    "ITF": "ITF",
    "CODE128": "CODE128",
    "CODE39": "CODE39",
    "QRCODE": "QRCODE",
    "DATAMATRIX": "DATAMATRIX",
    "PDF417": "PDF417",
}
NUMERIC_FAMILIES = frozenset({"EANUPC", "ITF"})
FORMATS = tuple(FAMILY)

_SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")


@dataclass(frozen=True)
class Sample:
    """One row of ``manifest.csv``: an image file and the code it is known to contain."""

    path: Path
    format: str
    expected: str
    source: str

    @property
    def name(self) -> str:
        return self.path.name


def load(dev_dir: Path) -> list[Sample]:
    """Read ``<dev_dir>/manifest.csv`` in file order."""
    with (dev_dir / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        return [
            Sample(dev_dir / row["file"], row["format"], row["expected"], row["source"])
            for row in csv.DictReader(fh)
        ]


def upce_to_upca(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 digits, check digit) to its 12-digit UPC-A."""
    ns, d, check = upce[0], upce[1:7], upce[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def normalise(text: str, fmt: str) -> str:
    """The form in which an expected and a decoded text of format ``fmt`` are compared."""
    text = _SYMBOLOGY_ID.sub("", text.strip())
    text = text.replace("\x1d", "").replace("\r\n", "\n").strip()
    if FAMILY.get(fmt) in NUMERIC_FAMILIES:
        digits = "".join(ch for ch in text if ch.isdigit())
        if fmt == "UPCE" and len(digits) == 8:
            digits = upce_to_upca(digits)
        return digits.lstrip("0")
    return text


def matches(sample_format: str, expected: str, code_format: str, code_text: str) -> bool:
    """True when a decoded (format, text) is the expected code under the README's rules."""
    if FAMILY.get(code_format) != FAMILY.get(sample_format):
        return False
    return normalise(code_text, code_format) == normalise(expected, sample_format)
