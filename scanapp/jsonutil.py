"""JSON output with quantities as numbers: Flask's default turns Decimal into a string."""

from decimal import Decimal

from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    sort_keys = False
    ensure_ascii = False  # Chinese names stay readable

    @staticmethod
    def default(o):
        if isinstance(o, Decimal):
            # A float's repr is the shortest text that round-trips, so 2.5 and 0.125 print exactly.
            return int(o) if o == o.to_integral_value() else float(o)
        return DefaultJSONProvider.default(o)
