"""ScanApp's own label payloads: one scheme shared by the label printer and `interpret`.

A payload is ``<KIND>:<part>[:<part>]``; parts are percent-encoded only for ``%`` and ``:``
so ordinary codes stay readable and can be typed from a damaged label:

    LOC:WH1-A-01-02         a location, by its code
    ITEM:SKU-1001           an item, by its SKU (labels use the item's GTIN where it has one)
    LOT:SKU-1001:L2405      a lot of an item without a GTIN (GTIN items use GS1 (01)(10)(17))
    DOC:PO:PO-00012         a document: PO purchase order, SO sales order, PL pick list,
                            CNT count session, TR inter-warehouse transfer

The prefix is case-insensitive when read, so a worker typing ``loc:wh1-a-01-02`` is understood;
codes themselves are matched case-insensitively by the lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCUMENT_KINDS = ("PO", "SO", "PL", "CNT", "TR")
KINDS = ("LOC", "ITEM", "LOT", "DOC")


@dataclass(frozen=True)
class Payload:
    kind: str  # one of KINDS
    parts: tuple[str, ...]


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def _unescape(part: str) -> str:
    return part.replace("%3A", ":").replace("%3a", ":").replace("%25", "%")


def location_payload(code: str) -> str:
    return f"LOC:{_escape(code)}"


def item_payload(sku: str) -> str:
    return f"ITEM:{_escape(sku)}"


def lot_payload(sku: str, lot: str) -> str:
    return f"LOT:{_escape(sku)}:{_escape(lot)}"


def document_payload(kind: str, number: str) -> str:
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    return f"DOC:{kind}:{_escape(number)}"


_ARITY = {"LOC": 1, "ITEM": 1, "LOT": 2, "DOC": 2}


def parse_payload(text: str) -> Payload | None:
    """Return the payload in ``text``, or None when it is not one of ScanApp's own.

    Surrounding blanks are ignored; a wrong number of parts or an empty part is not a payload.
    """
    text = text.strip()
    head, sep, rest = text.partition(":")
    kind = head.upper()
    if not sep or kind not in _ARITY:
        return None
    parts = tuple(_unescape(p) for p in rest.split(":"))
    if len(parts) != _ARITY[kind] or any(not p.strip() for p in parts):
        return None
    if kind == "DOC":
        doc_kind = parts[0].upper()
        if doc_kind not in DOCUMENT_KINDS:
            return None
        parts = (doc_kind, parts[1])
    return Payload(kind, parts)
