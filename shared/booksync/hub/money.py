"""Money in the hub: Decimal amounts in a currency's minor units, never float.

ISO 4217 gives each currency its minor units (2 for most, 0 for JPY or KRW, 3 for the
dinars of Bahrain, Jordan, Kuwait, Oman, Tunisia and Iraq's); an amount is refused when
it carries more places than its currency has, and computed amounts (quantity x rate, tax)
are rounded half up to them, as invoices are printed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO_PLACES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
     "VUV", "XAF", "XOF", "XPF"}
)  # fmt: skip
THREE_PLACES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
CURRENCY_PATTERN = r"^[A-Z]{3}$"


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (ISO 4217)."""
    code = currency.upper()
    if code in ZERO_PLACES:
        return 0
    if code in THREE_PLACES:
        return 3
    return 2


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def rounded(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up to the currency's minor units."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def fits(amount: Decimal, currency: str) -> bool:
    """Does `amount` carry no more places than the currency's minor units?"""
    return amount == rounded(amount, currency)


def shown(amount: Decimal, currency: str) -> str:
    """`amount` with exactly the currency's places: "1250.00 USD"."""
    return f"{rounded(amount, currency)} {currency}"
