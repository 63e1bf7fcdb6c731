"""Domain errors of purchasing and receiving, mapped once to HTTP by the web layer."""

from ..errors import ScanAppError


class PurchasingError(ScanAppError):
    code = "purchasing_error"
    status = 422


class NotOnOrder(PurchasingError):
    code = "not_on_order"
    status = 422


class FullyReceived(PurchasingError):
    code = "fully_received"
    status = 409


class OverReceipt(PurchasingError):
    """Details: ordered, received, this_receipt, allowed, tolerance_pct (all numbers)."""

    code = "over_receipt"
    status = 409


class WrongStatus(PurchasingError):
    code = "wrong_status"
    status = 409


class Expired(PurchasingError):
    code = "expired"
    status = 422


class LotRequired(PurchasingError):
    code = "lot_required"
    status = 422


class NoQuarantine(PurchasingError):
    code = "no_quarantine"
    status = 422


class ReceiptNotAllowed(PurchasingError):
    code = "receipt_without_po_not_allowed"
    status = 403


class UndoNotAllowed(PurchasingError):
    code = "undo_not_allowed"
    status = 409


class ImportFailed(PurchasingError):
    """``errors``: a list of (row number, message) — nothing was imported."""

    code = "import_failed"
    status = 422

    def __init__(self, message, errors):
        super().__init__(message)
        self.errors = errors
