"""Read-side queries of the inventory: lookups, stock on hand, the ledger, and the ledger check."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, false, func, or_, select, true
from sqlalchemy.orm import contains_eager, joinedload

from ..extensions import db
from .models import PHYSICAL_TYPES, Item, ItemBarcode, Location, Lot, StockBalance, StockMove, Warehouse

# Built once: these run on every scan (building a select costs more than running it).
_ITEM_BY_SKU = select(Item).where(Item.sku == bindparam("sku"))
_LOCATION_BY_CODE = select(Location).where(Location.code == bindparam("code"))
_ITEM_AND_LOCATIONS = (
    select(Item, Location).join(Location, true())
    .where(Item.sku == bindparam("sku"), Location.code.in_(bindparam("codes", expanding=True)))
)


def item_by_sku(sku: str) -> Item | None:
    return db.session.execute(_ITEM_BY_SKU, {"sku": sku}).scalar_one_or_none()


def location_by_code(code: str) -> Location | None:
    return db.session.execute(_LOCATION_BY_CODE, {"code": code}).scalar_one_or_none()


def item_and_locations(sku: str, codes) -> tuple[Item | None, dict[str, Location]]:
    """The item with this SKU and the locations with these codes, by code, in one round trip (a
    scan names both; one query instead of two is a twentieth of a scan's cost). When the item or
    every location is missing, the item is looked up alone and the locations are left to the
    caller."""
    rows = db.session.execute(_ITEM_AND_LOCATIONS, {"sku": sku, "codes": list(codes)}).all()
    if not rows:
        return item_by_sku(sku), {}
    return rows[0][0], {loc.code: loc for _item, loc in rows}


def location_by_code_ci(code: str) -> Location | None:
    """Case-insensitive: a worker typing a code from a damaged label will not mind the case.

    The exact code first: a scanned label matches it through the unique index, while the
    case-insensitive match reads the whole location table (no expression index: SQLite's
    schema comparison cannot see one)."""
    return location_by_code(code) or db.session.execute(
        select(Location).where(func.upper(Location.code) == code.upper())
    ).scalar_one_or_none()


def warehouse_by_code(code: str) -> Warehouse | None:
    return db.session.execute(select(Warehouse).where(Warehouse.code == code)).scalar_one_or_none()


def barcode_lookup(code: str, gtin14: str | None = None) -> ItemBarcode | None:
    """The barcode row for ``code``: exact text first, then by its GTIN-14 form."""
    conditions = [ItemBarcode.code == code]
    if gtin14:
        conditions.append(ItemBarcode.gtin14 == gtin14)
    rows = db.session.execute(
        select(ItemBarcode).options(joinedload(ItemBarcode.item)).where(or_(*conditions))
    ).scalars().all()
    for row in rows:
        if row.code == code:
            return row
    return rows[0] if rows else None


def lot_by_number(item_id: int, number: str) -> Lot | None:
    return db.session.execute(select(Lot).where(Lot.item_id == item_id, Lot.number == number)).scalar_one_or_none()


@dataclass(frozen=True)
class StockFilter:
    item_id: int | None = None
    location_id: int | None = None
    warehouse_id: int | None = None
    search: str = ""  # SKU, name or location code prefix
    include_empty: bool = False


_IN_LIST_MAX = 2000  # matching items or locations looked up first, up to this many


def _search_clause(search: str):
    """Balances whose item SKU or name, or location code, matches ``search``.

    The matching items and locations are looked up first: a SKU or a location code matches a
    few, and the balances are then read through their item and location indexes. Testing the
    patterns on the joined rows instead read all balances (200,000 of them: over a second in
    the 1,000,000-move benchmark). A broad search (more than _IN_LIST_MAX matches) stays a
    subquery, as it then finds a page of rows soon anyway. A side with no match adds no
    condition: an empty ``IN ()`` OR'ed with that subquery kept PostgreSQL from planning it as a
    join, and "Valve" (10,000 items) walked 20,000 balances once per location (154 ms → 13 ms).
    """
    like = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    items = select(Item.id).where(or_(Item.sku.like(like, escape="\\"), Item.name.like("%" + like, escape="\\")))
    locations = select(Location.id).where(Location.code.like(like, escape="\\"))
    # The page lists, then counts, with the same search: look the matches up once per
    # transaction (a new transaction sees new items, so it looks again).
    transaction = db.session().get_transaction()
    key = (search, id(transaction))
    cached = db.session.info.get("stock_search_matches")
    if transaction is None or cached is None or cached[0] != key:
        found = [db.session.execute(ids.limit(_IN_LIST_MAX + 1)).scalars().all() for ids in (items, locations)]
        cached = db.session.info["stock_search_matches"] = (key, found)
    clauses = []
    for column, ids, found in zip((StockBalance.item_id, StockBalance.location_id), (items, locations),
                                  cached[1], strict=True):
        if found:
            clauses.append(column.in_(found) if len(found) <= _IN_LIST_MAX else column.in_(ids))
    return or_(*clauses) if clauses else false()


def _stock_filters(stmt, flt: StockFilter):
    """``stmt`` (over StockBalance, joined to Location when filtering by warehouse) narrowed by
    ``flt``."""
    if not flt.include_empty:
        stmt = stmt.where(StockBalance.qty > 0)
    if flt.item_id is not None:
        stmt = stmt.where(StockBalance.item_id == flt.item_id)
    if flt.location_id is not None:
        stmt = stmt.where(StockBalance.location_id == flt.location_id)
    if flt.warehouse_id is not None:
        stmt = stmt.where(Location.warehouse_id == flt.warehouse_id)
    if flt.search:
        stmt = stmt.where(_search_clause(flt.search))
    return stmt


def _stock_query(flt: StockFilter):
    # contains_eager, not joinedload: the rows come from the joins the filters and the ordering
    # use anyway. joinedload would join item, location and lot a second time under aliases, and
    # planning that seven-table join cost PostgreSQL more than running it (1,000,000-move bench).
    stmt = (
        select(StockBalance)
        .join(StockBalance.item)
        .join(StockBalance.location)
        .outerjoin(StockBalance.lot)
        .options(
            contains_eager(StockBalance.item), contains_eager(StockBalance.location), contains_eager(StockBalance.lot)
        )
    )
    return _stock_filters(stmt, flt)


def stock(flt: StockFilter, *, limit: int | None = None, offset: int = 0) -> list[StockBalance]:
    """Balances matching ``flt``, ordered by location code (walking order), item, lot expiry."""
    stmt = _stock_query(flt).order_by(Location.code, Item.sku, Lot.expiry, StockBalance.id)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return list(db.session.execute(stmt).scalars())


def stock_count(flt: StockFilter) -> int:
    """How many balances `stock` would list; joins only the tables the filter needs (counting
    200,000 balances through every join took most of the stock page's time)."""
    stmt = select(func.count(StockBalance.id))
    if flt.warehouse_id is not None:
        stmt = stmt.join(StockBalance.location)
    return db.session.execute(_stock_filters(stmt, flt)).scalar_one()


def on_hand(item_id: int, location_id: int | None = None) -> Decimal:
    stmt = select(func.coalesce(func.sum(StockBalance.qty), 0)).where(StockBalance.item_id == item_id)
    if location_id is not None:
        stmt = stmt.where(StockBalance.location_id == location_id)
    return Decimal(db.session.execute(stmt).scalar_one())


def ledger(
    *, item_id: int | None = None, location_id: int | None = None, after_id: int | None = None, limit: int = 50
) -> list[StockMove]:
    """Moves in posting order, ``limit`` at a time after the move id ``after_id`` (the cursor)."""
    stmt = select(StockMove).options(
        joinedload(StockMove.item),
        joinedload(StockMove.lot),
        joinedload(StockMove.from_location),
        joinedload(StockMove.to_location),
        joinedload(StockMove.user),
    )
    if item_id is not None:
        stmt = stmt.where(StockMove.item_id == item_id)
    if location_id is not None:
        stmt = stmt.where(or_(StockMove.from_location_id == location_id, StockMove.to_location_id == location_id))
    if after_id is not None:
        stmt = stmt.where(StockMove.id > after_id)
    return list(db.session.execute(stmt.order_by(StockMove.id).limit(limit)).scalars())


def ledger_latest(*, item_id=None, location_id=None, before_id=None, limit=50) -> list[StockMove]:
    """The newest moves first (for pages), ``limit`` at a time before the move id ``before_id``."""
    stmt = select(StockMove).options(
        joinedload(StockMove.item),
        joinedload(StockMove.lot),
        joinedload(StockMove.from_location),
        joinedload(StockMove.to_location),
        joinedload(StockMove.user),
    )
    if item_id is not None:
        stmt = stmt.where(StockMove.item_id == item_id)
    if location_id is not None:
        stmt = stmt.where(or_(StockMove.from_location_id == location_id, StockMove.to_location_id == location_id))
    if before_id is not None:
        stmt = stmt.where(StockMove.id < before_id)
    return list(db.session.execute(stmt.order_by(StockMove.id.desc()).limit(limit)).scalars())


@dataclass(frozen=True)
class Mismatch:
    item_id: int
    location_id: int
    lot_id: int | None
    balance: Decimal
    moves: Decimal


def ledger_check() -> list[Mismatch]:
    """Every physical balance compared with the sum of its moves; returns the ones that differ."""
    physical = select(Location.id).where(Location.type.in_(PHYSICAL_TYPES))
    sums: dict[tuple, Decimal] = {}
    for col, sign in ((StockMove.to_location_id, 1), (StockMove.from_location_id, -1)):
        rows = db.session.execute(
            select(StockMove.item_id, col, StockMove.lot_id, func.sum(StockMove.qty))
            .where(col.in_(physical))
            .group_by(StockMove.item_id, col, StockMove.lot_id)
        )
        for item_id, location_id, lot_id, total in rows:
            key = (item_id, location_id, lot_id)
            sums[key] = sums.get(key, Decimal(0)) + sign * Decimal(total)
    balances = {
        (b.item_id, b.location_id, b.lot_id): b.qty
        for b in db.session.execute(select(StockBalance)).scalars()
    }
    problems = []
    for key in sorted(set(sums) | set(balances), key=lambda k: (k[0], k[1], k[2] or 0)):
        expected = sums.get(key, Decimal(0))
        actual = balances.get(key, Decimal(0))
        if expected != actual or expected < 0:
            problems.append(Mismatch(*key, balance=actual, moves=expected))
    return problems


