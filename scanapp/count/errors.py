"""Errors of the stocktake workflow, mapped to JSON errors / error fragments by the web layer."""

from ..errors import ScanAppError


class CountError(ScanAppError):
    code = "invalid_count"
    status = 422


class NotInCount(CountError):
    """A location or item the session does not cover."""

    code = "not_in_count"
    status = 422


class WrongState(CountError):
    """The session or location is not in a state that allows this (submitted, done, closed …)."""

    code = "count_state"
    status = 409


class LocationBusy(CountError):
    code = "location_busy"
    status = 409


class NotAssigned(CountError):
    code = "not_assigned"
    status = 403


class AlreadyDecided(CountError):
    """Lines approved or rejected by someone else in the meantime (or already)."""

    code = "already_decided"
    status = 409


class NothingToApprove(CountError):
    code = "nothing_to_approve"
    status = 409
