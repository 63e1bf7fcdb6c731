"""Imports every model module so the metadata (and Alembic) sees the whole schema."""

from .auth.models import ApiToken, User, UserSession  # noqa: F401
from .count.models import CountLine, CountLocation, CountSession  # noqa: F401
from .idempotency import IdempotencyRecord  # noqa: F401
from .inventory.models import Item, ItemBarcode, Location, Lot, StockBalance, StockMove, Warehouse  # noqa: F401
from .scanning.models import ScanLog  # noqa: F401
