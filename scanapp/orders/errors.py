"""Errors of orders and picking, mapped to JSON errors / error fragments by the web layer."""

from ..errors import ScanAppError


class OrderError(ScanAppError):
    code = "invalid_order"
    status = 422


class WrongLocation(OrderError):
    code = "wrong_location"
    status = 422


class WrongItem(OrderError):
    code = "wrong_item"
    status = 422


class WrongLot(OrderError):
    code = "wrong_lot"
    status = 422


class OverPick(OrderError):
    """More than the line still needs."""

    code = "over_pick"
    status = 409


class WrongState(OrderError):
    """The order, pick list or line is not in a state that allows this (done, shipped …)."""

    code = "wrong_state"
    status = 409


class NothingToPick(OrderError):
    code = "nothing_to_pick"
    status = 409
