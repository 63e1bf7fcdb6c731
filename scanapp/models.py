"""Imports every model module so the metadata (and Alembic) sees the whole schema."""

from .auth.models import ApiToken, User, UserSession  # noqa: F401
from .count.models import CountLine, CountLocation, CountSession  # noqa: F401
from .idempotency import IdempotencyRecord  # noqa: F401
from .inventory.models import (  # noqa: F401
    Item,
    ItemBarcode,
    Location,
    Lot,
    Reservation,
    StockBalance,
    StockMove,
    Warehouse,
)
from .moves.models import Transfer, TransferLine  # noqa: F401
from .offline.models import Device  # noqa: F401
from .orders.models import Customer, LocationCountFlag, Order, OrderLine, PickLine, PickList  # noqa: F401
from .purchasing.models import (  # noqa: F401
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    Supplier,
    WarehouseSettings,
)
from .scanning.models import ScanLog  # noqa: F401
