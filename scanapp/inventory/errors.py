"""Domain errors of the inventory core, mapped once to HTTP by the web layer."""

from flask_babel import lazy_gettext as _l

from ..errors import ScanAppError


class InventoryError(ScanAppError):
    pass


class NotFound(InventoryError):
    code = "not_found"
    status = 404


class UnknownReference(InventoryError):
    """A SKU, location, lot or barcode in the request that does not exist (422: the request is wrong)."""

    code = "unknown_reference"
    status = 422


class InvalidQuantity(InventoryError):
    code = "invalid_quantity"
    status = 422


class InvalidMove(InventoryError):
    code = "invalid_move"
    status = 422


class InsufficientStock(InventoryError):
    code = "insufficient_stock"
    status = 409

    def __init__(self, message=None, **details):
        super().__init__(message or _l("Not enough stock for this move."), **details)


class Duplicate(InventoryError):
    code = "duplicate"
    status = 409


class AlreadyReversed(InventoryError):
    code = "already_reversed"
    status = 409
