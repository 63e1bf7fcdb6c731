"""Stocktakes without HTTP: snapshots, scans, recounts, variances, thresholds, approval, and the
ledger's batch posting that approval uses."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from scanapp.auth.services import user_by_name
from scanapp.count import services as count
from scanapp.count.errors import (
    AlreadyDecided,
    CountError,
    LocationBusy,
    NotAssigned,
    NothingToApprove,
    NotInCount,
    WrongState,
)
from scanapp.count.models import CountLine, LineStatus
from scanapp.extensions import db
from scanapp.inventory import ledger, queries
from scanapp.inventory import services as inventory
from scanapp.inventory.errors import InsufficientStock, InvalidMove
from scanapp.inventory.models import LocationType, MoveType, StockMove
from scanapp.web import run_in_transaction

EXPIRY = date(2030, 6, 30)


class Desk:
    """Runs ``fn(user)`` as one unit of work of ``username`` (its own app context and session);
    ``fn`` returns plain values, since ORM objects are gone once the context ends."""

    def __init__(self, app):
        self.app = app

    def __call__(self, username, fn):
        with self.app.app_context():
            try:
                return run_in_transaction(lambda: fn(user_by_name(username)))
            finally:
                db.session.remove()


@pytest.fixture
def desk(app, make_user):
    make_user("sup", "supervisor")
    make_user("ann", "worker")
    make_user("bob", "worker")
    return Desk(app)


@pytest.fixture
def issue(app):
    def post(sku, location, qty, lot=None):
        with app.app_context():
            inventory.move_stock(type="issue", sku=sku, qty=qty, from_location=location, lot=lot, user_id=None)
            db.session.commit()
            db.session.remove()

    return post


@pytest.fixture
def shop(make_location, make_item, receive):
    """Zone A (two locations) and zone B; TEA is lot- and expiry-tracked, BOLT is not."""
    for code in ("WH1-A-01", "WH1-A-02", "WH1-B-01"):
        make_location(code)
    make_item("TEA", barcodes=[("6901234500011", 1), ("6901234500028", 20)], lot_tracked=True,
              expiry_tracked=True, unit_cost="38.5")
    make_item("BOLT", barcodes=["4006381333931"], unit_cost="0.35")
    receive("TEA", "WH1-A-01", 100, lot="L1", expiry=EXPIRY)
    receive("TEA", "WH1-A-01", 40, lot="L2", expiry=EXPIRY)
    receive("BOLT", "WH1-A-01", 500)
    receive("BOLT", "WH1-A-02", 200)
    receive("TEA", "WH1-A-02", 10, lot="L1", expiry=EXPIRY)
    receive("BOLT", "WH1-B-01", 50)


def create(desk, **kwargs) -> str:
    return desk("sup", lambda u: count.create_session(user=u, **kwargs).number)


def scan(desk, number, location, user="ann", **kwargs):
    def fn(u):
        result = count.add_line(count.get_session(number), location, user=u, **kwargs)
        return result.line.counted_qty

    return desk(user, fn)


def done(desk, number, location, user="ann"):
    def fn(u):
        result = count.finish_location(count.get_session(number), location, user=u)
        return len(result.lines), len(result.not_scanned)

    return desk(user, fn)


def submit(desk, number, user="ann"):
    return desk(user, lambda u: count.submit(count.get_session(number), user=u).status.value)


def review(desk, number):
    def fn(_u):
        result = count.variances(count.get_session(number))
        lines = {(v.location, v.sku, v.lot): v for v in result.lines}
        return lines, result.totals

    return desk("sup", fn)


def approve(desk, number, lines=None, user="sup"):
    def fn(u):
        result = count.approve(count.get_session(number), user=u, line_ids=lines)
        return result.approved, result.adjustments, result.waiting_outside, result.session.status.value

    return desk(user, fn)


def adjustments(app, number):
    with app.app_context():
        rows = db.session.execute(
            select(StockMove).where(StockMove.document_type == "count", StockMove.document_id == number)
            .order_by(StockMove.id)
        ).scalars().all()
        result = [(m.from_location.code, m.to_location.code, m.item.sku, m.lot.number if m.lot else None, m.qty,
                   m.type) for m in rows]
        db.session.remove()
        return result


def test_count_with_lots_and_moves_during_the_session(app, desk, shop, receive, issue, balance):
    """The issue's "done when": moves before a location is started are in its book snapshot, moves
    after are not, and approval applies counted − book-at-count-time to today's balance."""
    number = create(desk, prefix="WH1-A")
    assert number == "CNT-00001"
    receive("BOLT", "WH1-A-01", 20)  # before A-01 is started: part of its book (520)

    assert scan(desk, number, "WH1-A-01", sku="TEA", lot="L1", qty=90) == 90  # starts A-01: snapshot now
    issue("TEA", "WH1-A-01", 5, lot="L1")  # a pick while counting goes on: not a variance
    receive("BOLT", "WH1-A-02", 30)  # A-02 not started yet: part of its book (230)
    assert scan(desk, number, "WH1-A-01", barcode="6901234500011", lot="L1", qty=8) == 98
    for _ in range(3):
        scan(desk, number, "WH1-A-01", barcode="4006381333931")  # +1 each
    assert scan(desk, number, "WH1-A-01", sku="BOLT", qty=520) == 523
    # A lot the books have never seen at this location (nor anywhere).
    assert scan(desk, number, "WH1-A-01", sku="TEA", lot="L3", qty=7, expiry=EXPIRY) == 7
    assert done(desk, number, "WH1-A-01") == (4, 1)  # L2 was not scanned: counted 0

    assert scan(desk, number, "WH1-A-02", user="bob", sku="BOLT", qty=229) == 229
    assert scan(desk, number, "WH1-A-02", user="bob", sku="TEA", lot="L1", qty=10) == 10
    assert done(desk, number, "WH1-A-02", user="bob") == (2, 0)
    receive("TEA", "WH1-A-02", 5, lot="L1", expiry=EXPIRY)  # after A-02 is done
    issue("BOLT", "WH1-A-01", 100)  # after A-01 is done
    assert submit(desk, number) == "submitted"

    lines, totals = review(desk, number)
    expected = {  # (book, counted, difference, pct, value)
        ("WH1-A-01", "BOLT", None): (520, 523, 3, Decimal("0.58"), Decimal("1.05")),
        ("WH1-A-01", "TEA", "L1"): (100, 98, -2, Decimal("-2.00"), Decimal("-77.00")),
        ("WH1-A-01", "TEA", "L2"): (40, 0, -40, Decimal("-100.00"), Decimal("-1540.00")),
        ("WH1-A-01", "TEA", "L3"): (0, 7, 7, None, Decimal("269.50")),
        ("WH1-A-02", "BOLT", None): (230, 229, -1, Decimal("-0.43"), Decimal("-0.35")),
        ("WH1-A-02", "TEA", "L1"): (10, 10, 0, Decimal("0"), Decimal("0")),
    }
    assert {k: (v.book, v.counted, v.difference, v.pct, v.value) for k, v in lines.items()} == expected
    assert {k for k, v in lines.items() if not v.inside} == {("WH1-A-01", "TEA", "L2"), ("WH1-A-01", "TEA", "L3")}
    assert lines[("WH1-A-01", "TEA", "L1")].moved_while_counting  # the pick while A-01 was counted
    assert not lines[("WH1-A-02", "BOLT", None)].moved_while_counting  # its receipt came before the start
    assert totals["lines"] == 6 and totals["lines_with_difference"] == 5
    assert totals["value_up"] == Decimal("270.55") and totals["value_down"] == Decimal("-1617.35")
    assert totals["accuracy_pct"] == Decimal("16.7")

    # Bulk approval takes only the lines inside the thresholds; zero differences post nothing.
    approved, posted, waiting, status = approve(desk, number)
    assert (approved, posted, status) == (4, 3, "submitted")
    assert sorted(waiting) == sorted([lines[("WH1-A-01", "TEA", "L2")].line_id,
                                      lines[("WH1-A-01", "TEA", "L3")].line_id])
    assert balance("BOLT", "WH1-A-01") == 520 + 3 - 100  # today's 420, plus the +3 found
    assert balance("TEA", "WH1-A-01", "L1") == 95 - 2
    assert balance("BOLT", "WH1-A-02") == 229
    assert balance("TEA", "WH1-A-02", "L1") == 15  # no difference: untouched, the later receipt kept
    with pytest.raises(NothingToApprove):
        approve(desk, number)

    assert approve(desk, number, lines=waiting) == (2, 2, [], "closed")
    assert balance("TEA", "WH1-A-01", "L2") == 0
    assert balance("TEA", "WH1-A-01", "L3") == 7
    assert sorted(adjustments(app, number)) == sorted([
        ("VIRTUAL-ADJUSTMENT", "WH1-A-01", "BOLT", None, 3, MoveType.ADJUSTMENT),
        ("WH1-A-01", "VIRTUAL-ADJUSTMENT", "TEA", "L1", 2, MoveType.ADJUSTMENT),
        ("WH1-A-02", "VIRTUAL-ADJUSTMENT", "BOLT", None, 1, MoveType.ADJUSTMENT),
        ("WH1-A-01", "VIRTUAL-ADJUSTMENT", "TEA", "L2", 40, MoveType.ADJUSTMENT),
        ("VIRTUAL-ADJUSTMENT", "WH1-A-01", "TEA", "L3", 7, MoveType.ADJUSTMENT),
    ])
    with pytest.raises(WrongState):
        approve(desk, number, lines=waiting)
    with pytest.raises(WrongState):  # closed: no more counting
        scan(desk, number, "WH1-A-01", sku="BOLT")


def test_a_session_covers_only_its_locations_and_items(desk, shop):
    number = create(desk, items=["TEA"])  # a cycle count: wherever the books hold TEA
    locations = desk("ann", lambda u: [cl.location.code for cl, _n in
                                       count.location_progress(count.get_session(number))])
    assert locations == ["WH1-A-01", "WH1-A-02"]
    with pytest.raises(NotInCount):
        scan(desk, number, "WH1-A-01", sku="BOLT")
    with pytest.raises(NotInCount):
        scan(desk, number, "WH1-B-01", sku="TEA", lot="L1")
    assert done(desk, number, "WH1-A-02") == (1, 1)  # the snapshot holds TEA only, not the BOLTs

    whole = create(desk, warehouse="WH1", blind=False)
    assert desk("ann", lambda u: len(count.get_session(whole).locations)) == 3
    listed = create(desk, locations=["WH1-B-01"])
    assert desk("ann", lambda u: [cl.location.code for cl in count.get_session(listed).locations]) == ["WH1-B-01"]
    with pytest.raises(CountError):
        create(desk)
    with pytest.raises(CountError):
        create(desk, prefix="WH9")
    with pytest.raises(CountError):
        create(desk, locations=["WH1-A-01"], prefix="WH1-A")
    with pytest.raises(CountError):
        create(desk, warehouse="WH1", deadline=date(2000, 1, 1))


def test_scans_add_up_packs_multiply_and_replace_corrects(desk, shop):
    number = create(desk, locations=["WH1-A-01"])
    assert scan(desk, number, "WH1-A-01", barcode="6901234500028", lot="L1") == 20  # a pack of 20
    assert scan(desk, number, "WH1-A-01", barcode="6901234500028", lot="L1", qty=2) == 60
    assert scan(desk, number, "WH1-A-01", barcode="6901234500011", lot="L1") == 61
    assert scan(desk, number, "wh1-a-01", sku="TEA", lot="L1", qty=55, replace=True) == 55  # case-insensitive
    with pytest.raises(InvalidMove):
        scan(desk, number, "WH1-A-01", sku="TEA")  # lot-tracked: the lot is required
    with pytest.raises(InvalidMove):
        scan(desk, number, "WH1-A-01", sku="BOLT", lot="L1")
    with pytest.raises(InvalidMove):
        scan(desk, number, "WH1-A-01", sku="TEA", lot="NEW")  # an unknown lot of an expiry-tracked item
    with pytest.raises(CountError):
        scan(desk, number, "WH1-A-01", sku="BOLT", barcode="4006381333931")


def test_counting_a_location_again_replaces_its_count(desk, shop, receive):
    number = create(desk, locations=["WH1-A-02"])
    scan(desk, number, "WH1-A-02", sku="BOLT", qty=150)
    done(desk, number, "WH1-A-02")
    with pytest.raises(WrongState):  # a stray scan does not reopen a done location
        scan(desk, number, "WH1-A-02", sku="BOLT")
    receive("BOLT", "WH1-A-02", 7)
    desk("ann", lambda u: count.start_location(count.get_session(number), "WH1-A-02", user=u,
                                               recount=True).round)
    assert scan(desk, number, "WH1-A-02", sku="BOLT", qty=198) == 198  # not 150 + 198
    done(desk, number, "WH1-A-02")
    submit(desk, number)
    lines, _totals = review(desk, number)
    assert {k: (v.book, v.counted, v.round) for k, v in lines.items()} == {
        ("WH1-A-02", "BOLT", None): (207, 198, 2),  # re-snapshot: the receipt is in the book now
        ("WH1-A-02", "TEA", "L1"): (10, 0, 2),
    }


def test_reject_sends_the_location_back_to_an_assigned_counter(desk, shop, issue, balance):
    number = create(desk, locations=["WH1-A-01", "WH1-A-02"], counters=["ann", "bob"])
    scan(desk, number, "WH1-A-01", sku="BOLT", qty=450)
    done(desk, number, "WH1-A-01")
    scan(desk, number, "WH1-A-02", sku="BOLT", qty=200)
    scan(desk, number, "WH1-A-02", sku="TEA", lot="L1", qty=10)
    done(desk, number, "WH1-A-02")
    submit(desk, number)
    lines, _ = review(desk, number)
    bolt = lines[("WH1-A-01", "BOLT", None)]
    assert bolt.difference == -50 and not bolt.inside

    def reject(u):
        result = count.reject(count.get_session(number), user=u, line_ids=[bolt.line_id], reason="recount shelf",
                              counter="bob")
        return result.rejected, result.superseded, [(cl.location.code, cl.assigned_to.username)
                                                    for cl in result.locations]

    assert desk("sup", reject) == (1, 2, [("WH1-A-01", "bob")])  # the TEA lines of A-01 are superseded
    with pytest.raises(AlreadyDecided):
        desk("sup", reject)
    with pytest.raises(NotAssigned):
        scan(desk, number, "WH1-A-01", user="ann", sku="BOLT", qty=1)
    with pytest.raises(WrongState):  # submitted: only the recount location can be counted
        scan(desk, number, "WH1-A-02", user="bob", sku="BOLT", qty=1)
    issue("BOLT", "WH1-A-01", 10)  # between the first count and the recount: in the new snapshot
    assert scan(desk, number, "WH1-A-01", user="bob", sku="BOLT", qty=489) == 489
    scan(desk, number, "WH1-A-01", user="bob", sku="TEA", lot="L1", qty=100)
    scan(desk, number, "WH1-A-01", user="bob", sku="TEA", lot="L2", qty=40)
    done(desk, number, "WH1-A-01", user="bob")

    lines, totals = review(desk, number)
    assert totals["lines"] == 5
    bolt = lines[("WH1-A-01", "BOLT", None)]
    assert (bolt.book, bolt.counted, bolt.round, bolt.counter) == (490, 489, 2, "bob")
    assert approve(desk, number)[1:] == (1, [], "closed")
    assert balance("BOLT", "WH1-A-01") == 489


def test_who_may_count(desk, shop, make_user):
    make_user("cat", "worker")
    number = create(desk, locations=["WH1-A-01", "WH1-A-02"], counters=["ann", "bob"])
    with pytest.raises(NotAssigned):
        scan(desk, number, "WH1-A-01", user="cat", sku="BOLT")
    scan(desk, number, "WH1-A-01", user="ann", sku="BOLT")
    with pytest.raises(LocationBusy):
        scan(desk, number, "WH1-A-01", user="bob", sku="BOLT")
    with pytest.raises(LocationBusy):
        done(desk, number, "WH1-A-01", user="bob")
    assert scan(desk, number, "WH1-A-01", user="sup", sku="BOLT") == 2  # a supervisor may help out
    with pytest.raises(WrongState):
        submit(desk, number)  # A-01 is still being counted, A-02 not started
    done(desk, number, "WH1-A-01")
    assert done(desk, number, "WH1-A-02", user="bob") == (2, 2)  # never scanned: everything counted 0
    assert done(desk, number, "WH1-A-02", user="bob") == (2, 2)  # repeating "done" is harmless
    with pytest.raises(WrongState):
        approve(desk, number)  # not submitted
    assert submit(desk, number) == "submitted"
    assert submit(desk, number) == "submitted"


def test_an_adjustment_below_todays_balance_is_refused_with_the_line(desk, shop, issue, balance, move_count):
    number = create(desk, locations=["WH1-A-02"])
    scan(desk, number, "WH1-A-02", sku="BOLT", qty=20)  # book 200: −180
    scan(desk, number, "WH1-A-02", sku="TEA", lot="L1", qty=12)
    done(desk, number, "WH1-A-02")
    issue("BOLT", "WH1-A-02", 190)  # today's balance 10 cannot give 180
    submit(desk, number)
    lines, _ = review(desk, number)
    ids = sorted(v.line_id for v in lines.values())
    before = move_count()
    with pytest.raises(InsufficientStock) as refused:
        approve(desk, number, lines=ids)
    message = str(refused.value)
    assert str(lines[("WH1-A-02", "BOLT", None)].line_id) in message and "WH1-A-02" in message
    assert "BOLT" in message and "180" in message and "10" in message
    assert move_count() == before and balance("BOLT", "WH1-A-02") == 10
    tea = lines[("WH1-A-02", "TEA", "L1")].line_id
    assert approve(desk, number, lines=[tea])[:2] == (1, 1)
    assert balance("TEA", "WH1-A-02", "L1") == 12


def test_thresholds_come_from_the_settings(app, desk, shop):
    number = create(desk, locations=["WH1-A-01"])
    scan(desk, number, "WH1-A-01", sku="BOLT", qty=490)  # −10, −2 %, −3.50
    scan(desk, number, "WH1-A-01", sku="TEA", lot="L1", qty=99)  # −1, −1 %, −38.50
    scan(desk, number, "WH1-A-01", sku="TEA", lot="L2", qty=40)
    done(desk, number, "WH1-A-01")
    submit(desk, number)

    def inside():
        lines, _ = review(desk, number)
        return {k[1] + (k[2] or ""): v.inside for k, v in lines.items()}

    assert inside() == {"BOLT": False, "TEAL1": True, "TEAL2": True}  # BOLT: 10 units > 5
    app.config["SCANAPP_COUNT_THRESHOLD_QTY"] = None
    assert inside() == {"BOLT": True, "TEAL1": True, "TEAL2": True}
    app.config["SCANAPP_COUNT_THRESHOLD_VALUE"] = "20"
    assert inside() == {"BOLT": True, "TEAL1": False, "TEAL2": True}
    app.config["SCANAPP_COUNT_THRESHOLD_PCT"] = 1.5
    assert inside() == {"BOLT": False, "TEAL1": False, "TEAL2": True}


def test_line_lookups_and_states(desk, shop):
    number = create(desk, locations=["WH1-A-01"])
    scan(desk, number, "WH1-A-01", sku="BOLT", qty=500)
    with pytest.raises(WrongState):  # still being counted
        desk("sup", lambda u: count.reject(count.get_session(number), user=u, line_ids=[1], reason="x"))
    done(desk, number, "WH1-A-01")
    submit(desk, number)
    with pytest.raises(NotInCount):
        approve(desk, number, lines=[9999])
    with pytest.raises(CountError):
        approve(desk, number, lines=["1"])
    with pytest.raises(CountError):
        approve(desk, number, lines=[])


# --- ledger.post_moves -----------------------------------------------------------------------


def test_post_moves_posts_a_batch_like_single_moves(app, shop, balance):
    with app.app_context():
        adjust = inventory.virtual_location(LocationType.ADJUSTMENT)
        a1, a2 = queries.location_by_code("WH1-A-01"), queries.location_by_code("WH1-A-02")
        bolt, tea = queries.item_by_sku("BOLT"), queries.item_by_sku("TEA")
        l1 = queries.lot_by_number(tea.id, "L1")
        new_lot = ledger.get_or_create_lot(tea, "L9", EXPIRY)
        specs = [
            ledger.MoveSpec(MoveType.ADJUSTMENT, bolt, 5, a1, adjust),
            ledger.MoveSpec(MoveType.TRANSFER, bolt, 500, a1, a2),  # with the line above: 505 of 500 …
            ledger.MoveSpec(MoveType.ADJUSTMENT, bolt, 5, adjust, a1),  # … but the batch nets to 500
            ledger.MoveSpec(MoveType.ADJUSTMENT, tea, "2.000", adjust, a2, lot=new_lot, reason="found"),
            ledger.MoveSpec(MoveType.ADJUSTMENT, tea, 3, a2, adjust, lot=l1, unit_cost=Decimal("40")),
        ]
        ids = ledger.post_moves(specs, user_id=None, document=("count", "CNT-09999"))
        db.session.commit()
        assert ids == sorted(ids) and len(ids) == 5
        moves = [db.session.get(StockMove, i) for i in ids]
        assert [(m.item.sku, m.qty, m.from_location.code, m.to_location.code) for m in moves] == [
            ("BOLT", 5, "WH1-A-01", "VIRTUAL-ADJUSTMENT"), ("BOLT", 500, "WH1-A-01", "WH1-A-02"),
            ("BOLT", 5, "VIRTUAL-ADJUSTMENT", "WH1-A-01"), ("TEA", 2, "VIRTUAL-ADJUSTMENT", "WH1-A-02"),
            ("TEA", 3, "WH1-A-02", "VIRTUAL-ADJUSTMENT")]
        assert moves[3].reason == "found" and moves[3].lot.number == "L9"
        assert moves[4].unit_cost == 40 and moves[0].unit_cost == Decimal("0.35")
        assert {m.document_id for m in moves} == {"CNT-09999"}
        assert ledger.post_moves([]) == []
        db.session.remove()
    assert balance("BOLT", "WH1-A-01") == 0
    assert balance("BOLT", "WH1-A-02") == 700
    assert balance("TEA", "WH1-A-02", "L9") == 2
    assert balance("TEA", "WH1-A-02", "L1") == 7


def test_post_moves_refuses_the_whole_batch_when_a_balance_would_go_negative(app, shop, balance, move_count):
    with app.app_context():
        inventory.virtual_location(LocationType.ADJUSTMENT)
        db.session.commit()
    before = move_count()
    with app.app_context():
        adjust = inventory.virtual_location(LocationType.ADJUSTMENT)
        a1, a2 = queries.location_by_code("WH1-A-01"), queries.location_by_code("WH1-A-02")
        bolt, tea = queries.item_by_sku("BOLT"), queries.item_by_sku("TEA")
        with pytest.raises(InsufficientStock) as refused:
            ledger.post_moves([
                ledger.MoveSpec(MoveType.ADJUSTMENT, bolt, 5, adjust, a1),
                ledger.MoveSpec(MoveType.ADJUSTMENT, bolt, 201, a2, adjust),
            ])
        db.session.rollback()
        assert "WH1-A-02" in str(refused.value) and "BOLT" in str(refused.value)
        assert refused.value.details["on_hand"] == 200
        with pytest.raises(InsufficientStock):  # no balance row at all
            ledger.post_moves([ledger.MoveSpec(MoveType.ADJUSTMENT, bolt, 1, a1, adjust),
                               ledger.MoveSpec(MoveType.ADJUSTMENT, tea, 1, a2, adjust,
                                               lot=ledger.get_or_create_lot(tea, "L7", EXPIRY))])
        db.session.rollback()
        with pytest.raises(InvalidMove):  # checked like post_move: lot-tracked without a lot
            ledger.post_moves([ledger.MoveSpec(MoveType.ADJUSTMENT, tea, 1, adjust, a1)])
        db.session.rollback()
        db.session.remove()
    assert move_count() == before
    assert balance("BOLT", "WH1-A-01") == 500 and balance("BOLT", "WH1-A-02") == 200


def test_lines_are_unique_per_round_item_and_lot(app, desk, shop):
    number = create(desk, locations=["WH1-A-01"])
    scan(desk, number, "WH1-A-01", sku="BOLT")
    scan(desk, number, "WH1-A-01", sku="BOLT")
    with app.app_context():
        rows = db.session.execute(select(CountLine).where(CountLine.item_id == queries.item_by_sku("BOLT").id))
        assert [(r.counted_qty, r.book_qty, r.status) for r in rows.scalars()] == [(2, 500, LineStatus.COUNTING)]
        db.session.remove()


def test_a_closed_count_clears_the_flags_raised_before_it(app, desk, shop):
    from scanapp.orders.models import LocationCountFlag

    def flag(reason):
        def fn(u):
            loc = queries.location_by_code("WH1-B-01")
            db.session.add(LocationCountFlag(location_id=loc.id, reason=reason, source="PL-00001", flagged_by_id=u.id))

        desk("ann", fn)

    def open_flags():
        return desk("sup", lambda u: sorted(f.reason for f in db.session.execute(
            select(LocationCountFlag).where(LocationCountFlag.cleared_at.is_(None))).scalars()))

    flag("short pick: 3 of 5")
    number = create(desk, locations=["WH1-B-01"])
    assert scan(desk, number, "WH1-B-01", sku="BOLT", qty=49) == 49
    flag("short pick after the count started")
    assert done(desk, number, "WH1-B-01") == (1, 0)
    assert submit(desk, number) == "submitted"
    assert open_flags() == ["short pick after the count started", "short pick: 3 of 5"]
    assert approve(desk, number, lines=None)[3] == "closed"
    assert open_flags() == ["short pick after the count started"]
