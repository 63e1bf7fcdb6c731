"""Stocktake operations, used by the API (and later the handheld pages and the CLI).

The book snapshot rule
----------------------
The book quantity of every (location, item, lot) is taken when its location is *started*: by the
first scan there, by an explicit start, or by "location done" on a location nobody scanned. All
balances of the location (restricted to the session's items for a cycle count) are copied into
the round's lines in one INSERT … SELECT, at `CountLocation.started_at`. A recount starts a new
round and takes a new snapshot; its lines replace the earlier round's. An item found that the
snapshot lacks gets a line with book 0. Counting does not freeze the warehouse: moves posted
before a location is started are in its snapshot, moves posted after it are not, and approval
posts counted − book-at-count-time to *today's* balance — so neither shows up as a variance.
The one blind spot is a move at a location while it is being counted (between start and done);
the variance view flags those lines (``moved_while_counting``) for the supervisor.

Who sees what: a blind session never shows book quantities to workers (views built here for
workers leave them out); `variances` is for supervisors and admins. Functions flush, never
commit: the request commits once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, String, and_, bindparam, func, insert, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload

from ..auth.models import Role, User
from ..clock import today, utcnow
from ..extensions import db
from ..inventory import ledger, queries
from ..inventory.errors import InsufficientStock, InvalidMove, NotFound, UnknownReference
from ..inventory.models import PHYSICAL_TYPES, QTY, Item, Location, LocationType, Lot, MoveType, StockBalance, StockMove
from ..inventory.quantities import format_quantity, parse_quantity
from ..inventory.services import clean_text, virtual_location
from ..scanning.interpret import gtin14
from .errors import AlreadyDecided, CountError, LocationBusy, NotAssigned, NothingToApprove, NotInCount, WrongState
from .models import (
    CountCounter,
    CountItem,
    CountLine,
    CountLocation,
    CountSession,
    LineStatus,
    LocationStatus,
    SessionStatus,
)

# Defaults of SCANAPP_COUNT_THRESHOLD_QTY / _PCT / _VALUE. A line is inside the thresholds when its
# difference is within every one of them; a threshold set to null (None) is not checked.
DEFAULT_THRESHOLD_QTY = Decimal("5")  # units
DEFAULT_THRESHOLD_PCT = Decimal("5")  # percent of the book quantity
DEFAULT_THRESHOLD_VALUE = Decimal("100")  # difference × unit cost
MAX_LINE_IDS = 20000  # per approve/reject request
_CHUNK = 500  # ids per guarded UPDATE (inside every database's bind-parameter limit)
DOCUMENT_TYPE = "count"
_CENT = Decimal("0.01")


# --- looking things up --------------------------------------------------------------------------


def get_session(ref) -> CountSession:
    """A session by id (``12``) or number (``CNT-00012``, any case); NotFound otherwise."""
    text = str(ref).strip()
    session = None
    if text.isascii() and text.isdigit() and len(text) < 12:
        session = db.session.get(CountSession, int(text))
    elif 0 < len(text) <= 40:
        session = db.session.execute(
            select(CountSession).where(CountSession.number == text.upper())
        ).scalar_one_or_none()
    if session is None:
        raise NotFound(_l("No count %(ref)s.", ref=text[:40]))
    return session


def list_sessions(status: str | None = None, limit: int = 100) -> list[CountSession]:
    """The newest sessions first, optionally of one status."""
    stmt = select(CountSession).order_by(CountSession.id.desc()).limit(limit)
    if status:
        try:
            stmt = stmt.where(CountSession.status == SessionStatus(status))
        except ValueError:
            raise CountError(_l("Unknown count status %(status)s.", status=str(status)[:20])) from None
    return list(db.session.execute(stmt).scalars())


def _user(username, field: str) -> User:
    if not isinstance(username, str) or not username.strip():
        raise CountError(_l("%(field)s must be a username.", field=field))
    username = clean_text(username, field, 80)
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise UnknownReference(_l("No active user %(name)s.", name=username.strip()[:80]))
    return user


def _is_supervisor(user: User) -> bool:
    return user.has_role(Role.SUPERVISOR)


# --- creating a session -------------------------------------------------------------------------


def create_session(
    *,
    user: User,
    warehouse: str | None = None,
    locations: list[str] | None = None,
    prefix: str | None = None,
    items: list[str] | None = None,
    blind: bool = True,
    counters: list[str] | None = None,
    deadline: date | None = None,
    note: str = "",
) -> CountSession:
    """Open a count session over a fixed set of locations and return it (flushed, numbered).

    The locations are: ``locations`` (codes), else those whose code starts with ``prefix``, else
    every location of ``warehouse``; a cycle count (``items`` only, optionally in a warehouse)
    covers the locations holding those items on the books now. ``items`` also restricts any of
    the others to those items. Virtual and inactive locations are never counted.
    """
    wh = None
    if warehouse not in (None, ""):
        wh = queries.warehouse_by_code(clean_text(warehouse, "warehouse", 40))
        if wh is None:
            raise UnknownReference(_l("No warehouse %(code)s.", code=str(warehouse)[:40]))
    if locations and prefix:
        raise CountError(_l("Give either a list of locations or a prefix, not both."))
    prefix = clean_text(prefix, "prefix", 60, required=False) or None
    item_rows = _items(items or [])
    if not (wh or locations or prefix or item_rows):
        raise CountError(_l("Say what to count: a warehouse, a zone prefix, locations or items."))
    if deadline is not None and deadline < today():
        raise CountError(_l("The deadline is in the past."))

    physical = and_(Location.type.in_(PHYSICAL_TYPES), Location.active.is_(True))
    if locations:
        chosen = _listed_locations(locations, wh)
    else:
        stmt = select(Location).where(physical)
        if wh is not None:
            stmt = stmt.where(Location.warehouse_id == wh.id)
        if prefix:
            like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(Location.code.like(like, escape="\\"))
        elif item_rows:  # a cycle count: where the books hold the items
            held = select(StockBalance.location_id).where(
                StockBalance.item_id.in_([i.id for i in item_rows]), StockBalance.qty > 0)
            stmt = stmt.where(Location.id.in_(held))
        chosen = list(db.session.execute(stmt.order_by(Location.code)).scalars())
    if not chosen:
        raise CountError(_l("No locations to count: nothing matches."))

    counter_users = []
    for name in counters or []:
        found = _user(name, "counters")
        if found.id not in {u.id for u in counter_users}:  # not `in`: UserMixin's == compares session ids
            counter_users.append(found)

    session = CountSession(
        number="new-" + uuid.uuid4().hex, status=SessionStatus.OPEN, warehouse_id=wh.id if wh else None,
        prefix=prefix, blind=bool(blind), deadline=deadline, note=clean_text(note, "note", 1000, required=False),
        created_by_id=user.id, created_at=utcnow(),
    )
    db.session.add(session)
    db.session.flush()
    session.number = f"CNT-{session.id:05d}"
    db.session.execute(
        insert(CountLocation),
        [{"session_id": session.id, "location_id": loc.id, "status": LocationStatus.PENDING, "round": 0,
          "recount_reason": ""} for loc in chosen],
    )
    for counter in counter_users:
        db.session.add(CountCounter(session_id=session.id, user_id=counter.id))
    for item in item_rows:
        db.session.add(CountItem(session_id=session.id, item_id=item.id))
    db.session.flush()
    return session


def _items(skus) -> list[Item]:
    if not isinstance(skus, list) or len(skus) > 10000:
        raise CountError(_l("items must be a list of at most 10000 SKUs."))
    found: list[Item] = []
    for sku in skus:
        item = queries.item_by_sku(clean_text(sku, "items", 60))
        if item is None:
            raise UnknownReference(_l("No item with SKU %(sku)s.", sku=str(sku)[:60]))
        if item.id not in {i.id for i in found}:
            found.append(item)
    return found


def _listed_locations(codes, wh) -> list[Location]:
    if not isinstance(codes, list) or len(codes) > 100000:
        raise CountError(_l("locations must be a list of location codes."))
    chosen: list[Location] = []
    for code in codes:
        loc = queries.location_by_code(clean_text(code, "locations", 60))
        if loc is None:
            raise UnknownReference(_l("No location %(code)s.", code=str(code)[:60]))
        if loc.is_virtual or not loc.active:
            raise CountError(_l("Location %(code)s cannot be counted.", code=loc.code))
        if wh is not None and loc.warehouse_id != wh.id:
            raise CountError(_l("Location %(code)s is not in warehouse %(warehouse)s.", code=loc.code,
                                warehouse=wh.code))
        if loc.id not in {c.id for c in chosen}:
            chosen.append(loc)
    return chosen


# --- counting -----------------------------------------------------------------------------------


def _count_location(session: CountSession, code, *, lock: bool = False) -> CountLocation:
    """The session's location with this code (case-insensitive), optionally locked FOR UPDATE so
    that scans, "done" and recounts of one location take turns (PostgreSQL; SQLite serialises)."""
    code = clean_text(code, "location", 60)
    stmt = (
        select(CountLocation)
        .join(Location, Location.id == CountLocation.location_id)
        .where(CountLocation.session_id == session.id, func.upper(Location.code) == code.upper())
        .options(joinedload(CountLocation.location))
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update(of=CountLocation)
    rows = list(db.session.execute(stmt).scalars())
    exact = [r for r in rows if r.location.code == code]
    if exact or rows:
        return (exact or rows)[0]
    if queries.location_by_code_ci(code) is None:
        raise UnknownReference(_l("No location %(code)s.", code=code))
    raise NotInCount(_l("Location %(code)s is not part of count %(number)s.", code=code, number=session.number))


def _check_counter(session: CountSession, user: User, cl: CountLocation | None = None) -> None:
    """Workers count only the sessions they are assigned to (any, when none are), and a recount
    assigned to someone only that person; supervisors and admins may always count."""
    if _is_supervisor(user):
        return
    if cl is not None and cl.assigned_to_id is not None:
        if cl.assigned_to_id != user.id:
            raise NotAssigned(_l("The recount of %(code)s is assigned to %(name)s.", code=cl.location.code,
                                 name=cl.assigned_to.username))
        return
    if session.counters and user.id not in {c.user_id for c in session.counters}:
        raise NotAssigned(_l("You are not a counter of %(number)s.", number=session.number))


def _check_not_busy(cl: CountLocation, user: User) -> None:
    if (cl.status is LocationStatus.COUNTING and cl.counter_id not in (None, user.id)
            and not _is_supervisor(user)):
        raise LocationBusy(_l("%(code)s is being counted by %(name)s.", code=cl.location.code,
                              name=cl.counter.username))


def _check_countable(session: CountSession, cl: CountLocation) -> None:
    if session.status is SessionStatus.CLOSED:
        raise WrongState(_l("Count %(number)s is closed.", number=session.number))
    if session.status is SessionStatus.SUBMITTED and cl.status not in (LocationStatus.RECOUNT,
                                                                       LocationStatus.COUNTING):
        raise WrongState(_l("Count %(number)s has been submitted; only locations sent back for a recount "
                            "can be counted.", number=session.number))


def _begin_round(session: CountSession, cl: CountLocation, user: User) -> None:
    """Start the next counting round of ``cl``: supersede the open lines of earlier rounds and
    take the book snapshot (see the module docstring). The location row is locked by the caller."""
    now = utcnow()
    result = db.session.execute(
        update(CountLocation)
        .where(CountLocation.id == cl.id, CountLocation.status == cl.status, CountLocation.round == cl.round)
        .values(status=LocationStatus.COUNTING, round=CountLocation.round + 1, counter_id=user.id,
                started_at=now, done_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise WrongState(_l("%(code)s changed a moment ago; try again.", code=cl.location.code))
    db.session.refresh(cl)
    db.session.execute(
        update(CountLine)
        .where(CountLine.count_location_id == cl.id, CountLine.round < cl.round,
               CountLine.status.in_([LineStatus.COUNTING, LineStatus.COUNTED]))
        .values(status=LineStatus.SUPERSEDED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    snapshot = select(
        literal(session.id), literal(cl.id), StockBalance.location_id, literal(cl.round), StockBalance.item_id,
        StockBalance.lot_id, StockBalance.qty, literal(Decimal(0), QTY),
        literal(LineStatus.COUNTING.value, String(20)), literal(now, DateTime()), literal(now, DateTime()),
        literal("", String()),
    ).where(StockBalance.location_id == cl.location_id, StockBalance.qty > 0)
    item_ids = [ci.item_id for ci in session.items]
    if item_ids:
        snapshot = snapshot.where(StockBalance.item_id.in_(item_ids))
    db.session.execute(
        insert(CountLine).from_select(
            ["session_id", "count_location_id", "location_id", "round", "item_id", "lot_id", "book_qty",
             "counted_qty", "status", "created_at", "updated_at", "reject_reason"],
            snapshot,
        )
    )


def start_location(session: CountSession, code, *, user: User, recount: bool = False) -> CountLocation:
    """Start counting a location (the book snapshot is taken now); a no-op when this user is
    already counting it. A location already done is counted again only with ``recount``: the new
    round replaces its count."""
    cl = _count_location(session, code, lock=True)
    _check_countable(session, cl)
    _check_counter(session, user, cl)
    if cl.status is LocationStatus.COUNTING:
        _check_not_busy(cl, user)
        return cl
    if cl.status is LocationStatus.DONE and not recount:
        raise WrongState(_l("%(code)s is already counted. Start it again as a recount to replace its count.",
                            code=cl.location.code))
    _begin_round(session, cl, user)
    return cl


@dataclass(frozen=True)
class Scan:
    """The result of `add_line`: the line and what this request added."""

    line: CountLine
    location: CountLocation
    added: Decimal


def add_line(
    session: CountSession,
    code,
    *,
    user: User,
    sku=None,
    barcode=None,
    lot=None,
    qty=1,
    replace: bool = False,
    expiry: date | None = None,
) -> Scan:
    """Count ``qty`` of an item (by SKU, or by barcode: a pack barcode multiplies by its pack
    quantity) at a location: added to its line in the location's current round, or set when
    ``replace``. Starts the location (book snapshot) on its first scan."""
    cl = _count_location(session, code, lock=True)
    _check_countable(session, cl)
    _check_counter(session, user, cl)
    if cl.status is LocationStatus.DONE:
        raise WrongState(_l("%(code)s is already counted. Start it again as a recount to replace its count.",
                            code=cl.location.code))
    if cl.status is LocationStatus.COUNTING:
        _check_not_busy(cl, user)
    else:
        _begin_round(session, cl, user)

    item, pack = _scanned_item(sku, barcode)
    if session.items and item.id not in {ci.item_id for ci in session.items}:
        raise NotInCount(_l("%(sku)s is not part of count %(number)s.", sku=item.sku, number=session.number))
    lot_row = _scanned_lot(item, lot, expiry)
    amount = parse_quantity(qty, whole_units=item.whole_units, allow_zero=replace) * pack

    now = utcnow()
    _insert_ignore(CountLine, {
        "session_id": session.id, "count_location_id": cl.id, "location_id": cl.location_id, "round": cl.round,
        "item_id": item.id, "lot_id": lot_row.id if lot_row else None, "book_qty": Decimal(0),
        "counted_qty": Decimal(0), "status": LineStatus.COUNTING.value, "created_at": now, "updated_at": now,
        "reject_reason": "",
    })
    lot_clause = CountLine.lot_id.is_(None) if lot_row is None else CountLine.lot_id == lot_row.id
    where = (CountLine.count_location_id == cl.id, CountLine.round == cl.round, CountLine.item_id == item.id,
             lot_clause, CountLine.status == LineStatus.COUNTING)
    result = db.session.execute(
        update(CountLine).where(*where)
        .values(counted_qty=amount if replace else CountLine.counted_qty + amount, counted_by_id=user.id,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise WrongState(_l("%(code)s changed a moment ago; try again.", code=cl.location.code))
    line = db.session.execute(
        select(CountLine).where(*where).execution_options(populate_existing=True)
    ).scalar_one()
    return Scan(line=line, location=cl, added=amount)


def _insert_ignore(model, values: dict) -> None:
    dialect = db.session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert_(model).values(**values).on_conflict_do_nothing())


def _scanned_item(sku, barcode) -> tuple[Item, Decimal]:
    if (sku in (None, "")) == (barcode in (None, "")):
        raise CountError(_l("Give either a SKU or a barcode."))
    if sku not in (None, ""):
        item = queries.item_by_sku(clean_text(sku, "sku", 60))
        if item is None:
            raise UnknownReference(_l("No item with SKU %(sku)s.", sku=str(sku)[:60]))
        return item, Decimal(1)
    code = clean_text(barcode, "barcode", 200)
    row = queries.barcode_lookup(code, gtin14(code))
    if row is None:
        raise UnknownReference(_l("No item has the barcode %(code)s.", code=code))
    return row.item, row.pack_qty


def _scanned_lot(item: Item, lot, expiry: date | None) -> Lot | None:
    if lot in (None, ""):
        if item.lot_tracked:
            raise InvalidMove(_l("%(sku)s is lot-tracked: give the lot.", sku=item.sku))
        return None
    if not item.lot_tracked:
        raise InvalidMove(_l("%(sku)s is not lot-tracked.", sku=item.sku))
    number = clean_text(lot, "lot", 60)
    row = queries.lot_by_number(item.id, number)
    if row is not None:
        return row
    # A lot the books have never seen: it is on the shelf, so it exists now.
    if item.expiry_tracked and expiry is None:
        raise InvalidMove(_l("%(sku)s is expiry-tracked: give the expiry date.", sku=item.sku))
    return ledger.get_or_create_lot(item, number, expiry)


@dataclass(frozen=True)
class LocationDone:
    location: CountLocation
    lines: list[CountLine]  # the round's lines, scanned or not

    @property
    def not_scanned(self) -> list[CountLine]:
        """Lines on the books that nobody scanned: counted as 0."""
        return [ln for ln in self.lines if ln.counted_qty == 0 and ln.book_qty > 0]


def finish_location(session: CountSession, code, *, user: User) -> LocationDone:
    """"Location done": the round's lines are final (what was not scanned is counted 0). Done on
    a location nobody started takes its snapshot first (it was found empty). Repeating it is harmless."""
    cl = _count_location(session, code, lock=True)
    if cl.status is not LocationStatus.DONE:
        _check_countable(session, cl)
        _check_counter(session, user, cl)
        if cl.status is LocationStatus.COUNTING:
            _check_not_busy(cl, user)
        else:
            _begin_round(session, cl, user)
        now = utcnow()
        db.session.execute(
            update(CountLine)
            .where(CountLine.count_location_id == cl.id, CountLine.round == cl.round,
                   CountLine.status == LineStatus.COUNTING)
            .values(status=LineStatus.COUNTED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        result = db.session.execute(
            update(CountLocation)
            .where(CountLocation.id == cl.id, CountLocation.status == LocationStatus.COUNTING)
            .values(status=LocationStatus.DONE, done_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise WrongState(_l("%(code)s changed a moment ago; try again.", code=cl.location.code))
        db.session.refresh(cl)
    return LocationDone(cl, round_lines(cl))


def round_lines(cl: CountLocation) -> list[CountLine]:
    """The lines of the location's current round, in SKU order."""
    return list(db.session.execute(
        select(CountLine)
        .join(Item, Item.id == CountLine.item_id)
        .outerjoin(Lot, Lot.id == CountLine.lot_id)
        .where(CountLine.count_location_id == cl.id, CountLine.round == cl.round,
               CountLine.status != LineStatus.SUPERSEDED)
        .options(joinedload(CountLine.item), joinedload(CountLine.lot))
        .order_by(Item.sku, Lot.number)
        .execution_options(populate_existing=True)
    ).scalars())


def submit(session: CountSession, *, user: User) -> CountSession:
    """Counting is finished: every location must be done. Submitting twice is harmless."""
    _check_counter(session, user)
    if session.status is SessionStatus.SUBMITTED:
        return session
    if session.status is SessionStatus.CLOSED:
        raise WrongState(_l("Count %(number)s is closed.", number=session.number))
    open_rows = db.session.execute(
        select(Location.code)
        .join(CountLocation, CountLocation.location_id == Location.id)
        .where(CountLocation.session_id == session.id, CountLocation.status != LocationStatus.DONE)
        .order_by(Location.code)
    ).scalars().all()
    if open_rows:
        raise WrongState(_l("%(n)s locations are not done yet, e.g. %(codes)s.", n=len(open_rows),
                            codes=", ".join(open_rows[:5])))
    result = db.session.execute(
        update(CountSession)
        .where(CountSession.id == session.id, CountSession.status == SessionStatus.OPEN)
        .values(status=SessionStatus.SUBMITTED, submitted_at=utcnow(), submitted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(session)
    if result.rowcount != 1 and session.status is not SessionStatus.SUBMITTED:
        raise WrongState(_l("Count %(number)s changed a moment ago; try again.", number=session.number))
    return session


# --- review -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    qty: Decimal | None
    pct: Decimal | None
    value: Decimal | None

    def inside(self, diff: Decimal, pct: Decimal | None, value: Decimal) -> bool:
        """No difference, or a difference within every threshold that is set (a line found where
        the books had none has no percentage, so it is outside whenever a % threshold is set)."""
        if diff == 0:
            return True
        if self.qty is not None and abs(diff) > self.qty:
            return False
        if self.pct is not None and (pct is None or abs(pct) > self.pct):
            return False
        return self.value is None or abs(value) <= self.value


def _setting(name: str, default: Decimal) -> Decimal | None:
    value = current_app.config.get(name, default)
    if value is None or value == "":
        return None
    return Decimal(str(value))


def thresholds() -> Thresholds:
    """The variance thresholds from SCANAPP_COUNT_THRESHOLD_QTY, _PCT and _VALUE."""
    return Thresholds(
        qty=_setting("SCANAPP_COUNT_THRESHOLD_QTY", DEFAULT_THRESHOLD_QTY),
        pct=_setting("SCANAPP_COUNT_THRESHOLD_PCT", DEFAULT_THRESHOLD_PCT),
        value=_setting("SCANAPP_COUNT_THRESHOLD_VALUE", DEFAULT_THRESHOLD_VALUE),
    )


@dataclass(frozen=True)
class Variance:
    line_id: int
    location: str
    sku: str
    name: str
    uom: str
    lot: str | None
    book: Decimal
    counted: Decimal
    unit_cost: Decimal
    status: LineStatus
    round: int
    counter: str | None
    moved_while_counting: bool
    inside: bool

    @property
    def difference(self) -> Decimal:
        return self.counted - self.book

    @property
    def pct(self) -> Decimal | None:
        """The difference in percent of the book quantity (None when the book had none)."""
        if self.book == 0:
            return Decimal(0) if self.difference == 0 else None
        return (self.difference * 100 / self.book).quantize(_CENT)

    @property
    def value(self) -> Decimal:
        return (self.difference * self.unit_cost).quantize(_CENT)


def _variances(session: CountSession, *, statuses=(LineStatus.COUNTED, LineStatus.APPROVED),
               ids=None) -> list[Variance]:
    counter = User.__table__.alias("counter")
    stmt = (
        select(CountLine.id, Location.code, Item.sku, Item.name, Item.uom, Lot.number, CountLine.book_qty,
               CountLine.counted_qty, Item.unit_cost, CountLine.status, CountLine.round, counter.c.username,
               CountLine.count_location_id, CountLine.item_id, CountLine.lot_id, CountLocation.round)
        .join(Location, Location.id == CountLine.location_id)
        .join(Item, Item.id == CountLine.item_id)
        .join(CountLocation, CountLocation.id == CountLine.count_location_id)
        .outerjoin(Lot, Lot.id == CountLine.lot_id)
        .outerjoin(counter, counter.c.id == CountLocation.counter_id)
        .where(CountLine.session_id == session.id, CountLine.status.in_(list(statuses)))
        .order_by(Location.code, Item.sku, Lot.number, CountLine.id)
    )
    if ids is not None:
        stmt = stmt.where(CountLine.id.in_(ids))
    rows = db.session.execute(stmt).all()
    moved = _moved_while_counting(session)
    limits = thresholds()
    result = []
    for (line_id, code, sku, name, uom, lot, book, counted, cost, status, round_, username, cl_id, item_id,
         lot_id, cl_round) in rows:
        book, counted, cost = Decimal(book), Decimal(counted), Decimal(cost)
        v = Variance(line_id, code, sku, name, uom, lot, book, counted, cost, LineStatus(status), round_,
                     username, round_ == cl_round and (cl_id, item_id, lot_id) in moved, False)
        result.append(_with_inside(v, limits))
    return result


def _with_inside(v: Variance, limits: Thresholds) -> Variance:
    from dataclasses import replace

    return replace(v, inside=limits.inside(v.difference, v.pct, v.value))


def _moved_while_counting(session: CountSession) -> set[tuple[int, int, int | None]]:
    """(count location, item, lot) with a move at the location between its round's start and
    done: the counter may have counted before or after it, so the line deserves a look."""
    found = set()
    for side in (StockMove.from_location_id, StockMove.to_location_id):
        rows = db.session.execute(
            select(CountLocation.id, StockMove.item_id, StockMove.lot_id).distinct()
            .join(StockMove, and_(side == CountLocation.location_id, StockMove.created_at >= CountLocation.started_at,
                                  or_(CountLocation.done_at.is_(None), StockMove.created_at <= CountLocation.done_at)))
            .where(CountLocation.session_id == session.id, CountLocation.started_at.is_not(None),
                   or_(StockMove.document_type.is_(None), StockMove.document_type != DOCUMENT_TYPE))
        )
        found.update((cl_id, item_id, lot_id) for cl_id, item_id, lot_id in rows)
    return found


@dataclass(frozen=True)
class Review:
    lines: list[Variance]
    thresholds: Thresholds

    @property
    def totals(self) -> dict:
        lines = self.lines
        differing = [v for v in lines if v.difference != 0]
        up = sum((v.value for v in differing if v.value > 0), Decimal(0))
        down = sum((v.value for v in differing if v.value < 0), Decimal(0))
        accuracy = (Decimal(len(lines) - len(differing)) * 100 / len(lines)).quantize(Decimal("0.1")) \
            if lines else Decimal(100)
        return {
            "lines": len(lines),
            "lines_with_difference": len(differing),
            "inside_thresholds": sum(1 for v in lines if v.inside),
            "outside_thresholds": sum(1 for v in lines if not v.inside),
            "waiting": sum(1 for v in lines if v.status is LineStatus.COUNTED),
            "approved": sum(1 for v in lines if v.status is LineStatus.APPROVED),
            "value_up": up,
            "value_down": down,
            "value_net": up + down,
            "accuracy_pct": accuracy,
        }


def variances(session: CountSession) -> Review:
    """Every counted or approved line with book, counted, difference, %, value; and totals (for
    supervisors: this shows book quantities)."""
    return Review(_variances(session), thresholds())


# --- decisions ----------------------------------------------------------------------------------


def _line_ids(raw) -> list[int]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_LINE_IDS:
        raise CountError(_l("lines must be a list of 1 to %(max)s line ids.", max=MAX_LINE_IDS))
    ids = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CountError(_l("lines must be a list of line ids."))
        ids.append(value)
    return sorted(set(ids))


def _check_waiting(session: CountSession, ids: list[int]) -> None:
    """A clear message for the usual mistakes; the guarded UPDATE afterwards is what decides."""
    status_of = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        status_of.update(db.session.execute(
            select(CountLine.id, CountLine.status).where(CountLine.session_id == session.id,
                                                         CountLine.id.in_(chunk))
        ).all())
    for line_id in ids:
        if line_id not in status_of:
            raise NotInCount(_l("Line %(id)s is not part of count %(number)s.", id=line_id, number=session.number))
        status = LineStatus(status_of[line_id])
        if status is LineStatus.COUNTING:
            raise WrongState(_l("Line %(id)s is still being counted.", id=line_id))
        if status is not LineStatus.COUNTED:
            raise AlreadyDecided(_l("Line %(id)s is already %(status)s.", id=line_id, status=status.value))


def _decide(session: CountSession, ids: list[int], values: dict) -> None:
    """Move ``ids`` from counted to a decision, all or none: a guarded UPDATE per chunk (… WHERE
    status = 'counted'); when another supervisor got there first the row counts fall short."""
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        changed += db.session.execute(
            update(CountLine)
            .where(CountLine.session_id == session.id, CountLine.id.in_(chunk),
                   CountLine.status == LineStatus.COUNTED)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
    if changed != len(ids):
        raise AlreadyDecided(_l("Someone else approved or rejected some of these lines a moment ago. "
                                "Reload the variances."))


@dataclass(frozen=True)
class Approval:
    approved: int
    adjustments: int
    waiting_outside: list[int]  # counted lines outside the thresholds, still waiting
    session: CountSession


def approve(session: CountSession, *, user: User, line_ids=None) -> Approval:
    """Approve lines and post their adjustments (counted − book, to today's balance) as moves
    to/from the inventory-adjustment location, all in this transaction.

    Without ``line_ids`` only the waiting lines inside the thresholds are approved; lines outside
    need to be listed. A line whose adjustment would take today's balance below zero refuses the
    whole approval (409, naming the line). Approving the same lines twice — even at the same moment
    by two supervisors — approves and posts once; the second gets 409.
    """
    if session.status is SessionStatus.OPEN:
        raise WrongState(_l("Count %(number)s has not been submitted yet.", number=session.number))
    if session.status is SessionStatus.CLOSED:
        raise WrongState(_l("Count %(number)s is closed.", number=session.number))
    if line_ids is None:
        waiting = _variances(session, statuses=(LineStatus.COUNTED,))
        chosen = [v for v in waiting if v.inside]
        if not chosen:
            raise NothingToApprove(_l("No lines inside the thresholds are waiting for approval; approve the "
                                      "others by listing them."))
        ids = sorted(v.line_id for v in chosen)
    else:
        ids = _line_ids(line_ids)
        _check_waiting(session, ids)
    now = utcnow()
    _decide(session, ids, {"status": LineStatus.APPROVED, "decided_by_id": user.id, "decided_at": now,
                           "updated_at": now})

    lines = _lines_with_difference(ids)
    adjust = virtual_location(LocationType.ADJUSTMENT)
    specs = []
    for line in lines:
        diff = line.counted_qty - line.book_qty
        source, target = (adjust, line.location) if diff > 0 else (line.location, adjust)
        specs.append(ledger.MoveSpec(type=MoveType.ADJUSTMENT, item=line.item, qty=abs(diff), from_location=source,
                                     to_location=target, lot=line.lot))
    try:
        move_ids = ledger.post_moves(specs, user_id=user.id, document=(DOCUMENT_TYPE, session.number))
    except InsufficientStock as exc:
        raise _refused_line(lines, exc) from exc
    if move_ids:
        table = CountLine.__table__
        db.session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(move_id=bindparam("b_move")),
            [{"b_id": line.id, "b_move": move_id} for line, move_id in zip(lines, move_ids, strict=True)],
        )
    _close_if_finished(session)
    if session.status is SessionStatus.CLOSED:
        _clear_count_flags(session, user)
    outside = db.session.execute(
        select(CountLine.id).where(CountLine.session_id == session.id, CountLine.status == LineStatus.COUNTED)
        .order_by(CountLine.id)
    ).scalars().all()
    return Approval(len(ids), len(move_ids), list(outside), session)


def _lines_with_difference(ids: list[int]) -> list[CountLine]:
    lines = []
    for start in range(0, len(ids), _CHUNK):
        lines.extend(db.session.execute(
            select(CountLine)
            .where(CountLine.id.in_(ids[start:start + _CHUNK]), CountLine.counted_qty != CountLine.book_qty)
            .options(joinedload(CountLine.item), joinedload(CountLine.location), joinedload(CountLine.lot))
        ).scalars())
    return sorted(lines, key=lambda ln: ln.id)


def _refused_line(lines: list[CountLine], exc: InsufficientStock) -> InsufficientStock:
    key = (exc.details.get("location_id"), exc.details.get("item_id"), exc.details.get("lot_id"))
    for line in lines:
        if (line.location_id, line.item_id, line.lot_id) == key:
            sku = line.item.sku + (f" ({line.lot.number})" if line.lot else "")
            return InsufficientStock(
                _l("Line %(id)s (%(location)s, %(sku)s) would take %(qty)s away, but only %(on_hand)s are on "
                   "hand there now. Leave it out and approve the others, or reject it for a recount.",
                   id=line.id, location=line.location.code, sku=sku,
                   qty=format_quantity(line.book_qty - line.counted_qty),
                   on_hand=format_quantity(exc.details.get("on_hand", Decimal(0)))),
                line_id=line.id,
            )
    return exc


def _close_if_finished(session: CountSession) -> None:
    """Close the session when every location is done and no line waits for a decision."""
    open_line = db.session.execute(
        select(CountLine.id).where(CountLine.session_id == session.id,
                                   CountLine.status.in_([LineStatus.COUNTING, LineStatus.COUNTED])).limit(1)
    ).first()
    open_location = db.session.execute(
        select(CountLocation.id).where(CountLocation.session_id == session.id,
                                       CountLocation.status != LocationStatus.DONE).limit(1)
    ).first()
    if open_line is None and open_location is None:
        db.session.execute(
            update(CountSession)
            .where(CountSession.id == session.id, CountSession.status == SessionStatus.SUBMITTED)
            .values(status=SessionStatus.CLOSED, closed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    db.session.refresh(session)


def _clear_count_flags(session: CountSession, user: User) -> None:
    """A closed count answers the locations flagged for counting (e.g. by a short pick) before
    their count started; flags raised later stay open."""
    from ..orders.models import LocationCountFlag

    started = {cl.location_id: cl.started_at for cl in session.locations if cl.started_at is not None}
    flags = db.session.execute(
        select(LocationCountFlag).where(LocationCountFlag.location_id.in_(list(started)),
                                        LocationCountFlag.cleared_at.is_(None))
    ).scalars()
    now = utcnow()
    for flag in flags:
        if flag.flagged_at <= started[flag.location_id]:
            flag.cleared_at, flag.cleared_by_id = now, user.id


@dataclass(frozen=True)
class Rejection:
    rejected: int
    superseded: int
    locations: list[CountLocation]


def reject(session: CountSession, *, user: User, line_ids, reason, counter: str | None = None) -> Rejection:
    """Send the locations of ``line_ids`` back for a recount, optionally assigned to ``counter``.
    The listed lines become rejected, the other waiting lines of those locations superseded; the
    recount takes a new snapshot and its lines replace them."""
    if session.status is SessionStatus.CLOSED:
        raise WrongState(_l("Count %(number)s is closed.", number=session.number))
    reason = clean_text(reason, "reason", 500)
    assignee = _user(counter, "counter") if counter not in (None, "") else None
    ids = _line_ids(line_ids)
    _check_waiting(session, ids)
    now = utcnow()
    _decide(session, ids, {"status": LineStatus.REJECTED, "decided_by_id": user.id, "decided_at": now,
                           "reject_reason": reason, "updated_at": now})
    cl_ids = sorted(set(db.session.execute(
        select(CountLine.count_location_id).where(CountLine.id.in_(ids))
    ).scalars()))
    superseded = db.session.execute(
        update(CountLine)
        .where(CountLine.count_location_id.in_(cl_ids), CountLine.status == LineStatus.COUNTED)
        .values(status=LineStatus.SUPERSEDED, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    changed = db.session.execute(
        update(CountLocation)
        .where(CountLocation.id.in_(cl_ids), CountLocation.status == LocationStatus.DONE)
        .values(status=LocationStatus.RECOUNT, assigned_to_id=assignee.id if assignee else None, counter_id=None,
                recount_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != len(cl_ids):
        raise AlreadyDecided(_l("Someone else changed these locations a moment ago. Reload the variances."))
    locations = list(db.session.execute(
        select(CountLocation).where(CountLocation.id.in_(cl_ids))
        .options(joinedload(CountLocation.location), joinedload(CountLocation.assigned_to))
        .execution_options(populate_existing=True)
    ).scalars())
    return Rejection(len(ids), superseded, sorted(locations, key=lambda c: c.location.code))


# --- the worker's view --------------------------------------------------------------------------


def location_progress(session: CountSession) -> list[tuple[CountLocation, int]]:
    """Each location of the session with the number of lines scanned in its current round
    (counted above zero): progress a blind counter may see."""
    scanned = dict(db.session.execute(
        select(CountLine.count_location_id, func.count(CountLine.id))
        .join(CountLocation, CountLocation.id == CountLine.count_location_id)
        .where(CountLine.session_id == session.id, CountLine.round == CountLocation.round,
               CountLine.counted_qty > 0, CountLine.status != LineStatus.SUPERSEDED)
        .group_by(CountLine.count_location_id)
    ).all())
    rows = db.session.execute(
        select(CountLocation).join(Location, Location.id == CountLocation.location_id)
        .where(CountLocation.session_id == session.id)
        .options(joinedload(CountLocation.location), joinedload(CountLocation.counter),
                 joinedload(CountLocation.assigned_to))
        .order_by(Location.code)
    ).scalars()
    return [(cl, scanned.get(cl.id, 0)) for cl in rows]


def location_lines(session: CountSession, code) -> tuple[CountLocation, list[CountLine]]:
    """A location of the session and its current round's lines (the caller hides book quantities
    of a blind count)."""
    cl = _count_location(session, code)
    return cl, round_lines(cl) if cl.round else []


# --- the pages ----------------------------------------------------------------------------------


def may_count(session: CountSession, user: User) -> None:
    """Raise NotAssigned when ``user`` may not count ``session`` (see `_check_counter`)."""
    _check_counter(session, user)


def session_from_scan(text) -> CountSession:
    """The session a scan names: its label (``DOC:CNT:CNT-00012``), its number or its id."""
    from ..scanning.payloads import parse_payload

    raw = clean_text(text, "count", 200)
    payload = parse_payload(raw)
    if payload is not None:
        if payload.kind != "DOC" or payload.parts[0] != "CNT":
            raise CountError(_l("This is not a count label. Scan the label of a count session (CNT-…)."))
        raw = payload.parts[1]
    return get_session(raw)


def location_from_scan(session: CountSession, text, *, user: User) -> CountLocation:
    """The session's location a scan names (``LOC:`` label or code), checked to be countable by
    ``user`` now; nothing is started (the first item scan takes the snapshot)."""
    from ..scanning.payloads import parse_payload

    raw = clean_text(text, "location", 200)
    payload = parse_payload(raw)
    if payload is not None:
        if payload.kind != "LOC":
            raise CountError(_l("Scan a location label."))
        raw = payload.parts[0]
    cl = _count_location(session, raw)
    check_countable_by(session, cl, user)
    return cl


def check_countable_by(session: CountSession, cl: CountLocation, user: User) -> None:
    """Raise the error a scan at ``cl`` by ``user`` would get now (closed, done, busy, not assigned)."""
    _check_countable(session, cl)
    _check_counter(session, user, cl)
    if cl.status is LocationStatus.DONE:
        raise WrongState(_l("%(code)s is already counted. Start it again as a recount to replace its count.",
                            code=cl.location.code))
    _check_not_busy(cl, user)


def scan_item(session: CountSession, code, *, user: User, text, qty=None, lot=None, expiry=None) -> Scan:
    """Count what a scan at location ``code`` names: +1, the pack quantity of a pack barcode, or a
    GS1 count; a typed ``qty`` multiplies it (3 scans' worth of a 20-pack: 60). GS1 data and LOT:
    labels fill the lot and expiry; otherwise ``lot``/``expiry`` typed by the counter are used."""
    from ..scanning.resolve import resolve

    result = resolve(text, screen="count", user_id=user.id, expected=("item", "lot"))
    if result.kind == "location":
        raise CountError(_l("This is a location (%(code)s). Finish this one with “Location done” first.",
                            code=result.location))
    if not result.ok:
        raise UnknownReference(result.message)
    item = db.session.get(Item, result.item_id)
    per_scan = result.qty if result.qty is not None else Decimal(1)
    amount = per_scan
    if qty not in (None, ""):
        amount = parse_quantity(qty, whole_units=item.whole_units) * per_scan
    lot_number = result.lot or (lot if lot not in (None, "") else None)
    return add_line(session, code, user=user, sku=item.sku, lot=lot_number, qty=amount,
                    expiry=result.expiry or expiry)


@dataclass(frozen=True)
class DonePreview:
    """What "location done" would do now: lines scanned, and book lines not scanned (counted 0)."""

    location: CountLocation
    scanned: int
    not_scanned: int


def preview_done(session: CountSession, code) -> DonePreview:
    """For the confirmation before "location done": how many book lines nobody scanned (their
    number only; a blind count shows no quantities)."""
    cl = _count_location(session, code)
    if cl.round and cl.status in (LocationStatus.COUNTING, LocationStatus.DONE):
        lines = round_lines(cl)
        scanned = sum(1 for ln in lines if ln.counted_qty > 0)
        missing = sum(1 for ln in lines if ln.counted_qty == 0 and ln.book_qty > 0)
        return DonePreview(cl, scanned, missing)
    stmt = select(func.count()).select_from(StockBalance).where(StockBalance.location_id == cl.location_id,
                                                                 StockBalance.qty > 0)
    item_ids = [ci.item_id for ci in session.items]
    if item_ids:
        stmt = stmt.where(StockBalance.item_id.in_(item_ids))
    return DonePreview(cl, 0, db.session.execute(stmt).scalar_one())


@dataclass(frozen=True)
class Work:
    """A counter's open work: sessions to count and recounts waiting for them."""

    sessions: list[CountSession]
    recounts: list[CountLocation]


def my_work(user: User) -> Work:
    """Open sessions ``user`` may count (assigned, or open to anyone) and the recounts for them."""
    assigned = select(CountCounter.session_id).where(CountCounter.user_id == user.id)
    anyone = ~select(CountCounter.session_id).where(CountCounter.session_id == CountSession.id).exists()
    mine = or_(CountSession.id.in_(assigned), anyone) if not _is_supervisor(user) else true()
    sessions = list(db.session.execute(
        select(CountSession).where(CountSession.status == SessionStatus.OPEN, mine)
        .order_by(CountSession.deadline.is_(None), CountSession.deadline, CountSession.id)
    ).scalars())
    recount_stmt = (
        select(CountLocation).join(CountSession, CountSession.id == CountLocation.session_id)
        .join(Location, Location.id == CountLocation.location_id)
        .where(CountLocation.status == LocationStatus.RECOUNT, CountSession.status != SessionStatus.CLOSED)
        .options(joinedload(CountLocation.location), joinedload(CountLocation.session))
        .order_by(CountSession.id, Location.code)
    )
    if not _is_supervisor(user):
        recount_stmt = recount_stmt.where(or_(
            CountLocation.assigned_to_id == user.id,
            and_(CountLocation.assigned_to_id.is_(None), mine),
        ))
    return Work(sessions, list(db.session.execute(recount_stmt).scalars()))


def session_progress(sessions: list[CountSession]) -> dict[int, dict[str, int]]:
    """Per session id: how many of its locations are in each status, and the total."""
    progress: dict[int, dict[str, int]] = {s.id: {"total": 0} for s in sessions}
    if not sessions:
        return progress
    rows = db.session.execute(
        select(CountLocation.session_id, CountLocation.status, func.count())
        .where(CountLocation.session_id.in_(list(progress)))
        .group_by(CountLocation.session_id, CountLocation.status)
    ).all()
    for session_id, status, n in rows:
        entry = progress[session_id]
        entry[LocationStatus(status).value] = n
        entry["total"] += n
    return progress


VARIANCE_SORTS = {
    "location": lambda v: (v.location, v.sku, v.lot or ""),
    "sku": lambda v: (v.sku, v.location, v.lot or ""),
    "difference": lambda v: v.difference,
    "pct": lambda v: v.pct if v.pct is not None else Decimal("1e9") * (1 if v.difference > 0 else -1),
    "value": lambda v: v.value,
    "size": lambda v: abs(v.value),
}


def filter_variances(lines: list[Variance], *, outside_only: bool = False, waiting_only: bool = False,
                     differing_only: bool = False, prefix: str = "", sku: str = "", sort: str = "location",
                     descending: bool = False) -> list[Variance]:
    """The review table's rows: filtered (outside the thresholds, waiting, with a difference,
    location prefix, SKU or name part) and sorted by one of `VARIANCE_SORTS`."""
    prefix, sku = prefix.strip().upper(), sku.strip().upper()
    rows = [
        v for v in lines
        if (not outside_only or not v.inside)
        and (not waiting_only or v.status is LineStatus.COUNTED)
        and (not differing_only or v.difference != 0)
        and (not prefix or v.location.upper().startswith(prefix))
        and (not sku or sku in v.sku.upper() or sku in v.name.upper())
    ]
    key = VARIANCE_SORTS.get(sort, VARIANCE_SORTS["location"])
    return sorted(rows, key=key, reverse=descending)
