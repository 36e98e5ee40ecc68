"""The data contract: column names and the declared hierarchy.

Sales are long-format rows of ``(date, product_id, quantity, [price], [promo], [availability])``;
products are rows
of ``(product_id, [launch_date], [end_date], <attribute columns>)``. Which attributes nest and which
cross is data, not code. ``end_date`` is not an attribute: the last date a discontinued product is sold
(empty: still on sale); its history stops there and its forecast is zero in every period after it.
``launch_date`` is not an attribute either: the first date the product was on sale (empty: from its
first sale); its history starts there, the periods without a sale read as zeros.

``availability`` is the share of the period the product was in stock (0 to 1; 1, or empty: in stock
all period). A period with availability under 1 is censored demand: the units sold are a lower bound
on what would have sold, not the demand itself, so the model reads them as "at least this many"
(``forecast.prep.design.Rows.censored``). Forecasts are of demand, not of constrained sales.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATE = "date"
PRODUCT = "product_id"
QUANTITY = "quantity"
PRICE = "price"
PROMO = "promo"
END_DATE = "end_date"  # products: the last date a discontinued product is sold; not an attribute
LAUNCH_DATE = "launch_date"  # products: the first date the product was on sale; not an attribute
AVAILABILITY = "availability"  # sales: in-stock share of the period, 0..1; under 1: censored demand

SALES_REQUIRED = (DATE, PRODUCT, QUANTITY)
SALES_OPTIONAL = (PRICE, PROMO, AVAILABILITY)
PRODUCTS_OPTIONAL = (LAUNCH_DATE, END_DATE)
NOT_ATTRIBUTES = (PRODUCT, LAUNCH_DATE, END_DATE)  # products columns that are not attributes

DEFAULT_NESTED = ("category", "brand")
DEFAULT_CROSSED = ("color",)


@dataclass(frozen=True)
class Hierarchy:
    """Which product attributes pool the product effects.

    ``nested`` runs outermost first (``("category", "brand")``: brands sit inside categories, so a
    brand name reused in two categories is two groups); products nest under the last one.
    ``crossed`` attributes (``("color",)``) cut across the nesting.
    """

    nested: tuple[str, ...] = DEFAULT_NESTED
    crossed: tuple[str, ...] = DEFAULT_CROSSED
    levels: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nested", tuple(self.nested))
        object.__setattr__(self, "crossed", tuple(self.crossed))
        names = self.nested + self.crossed
        if len(set(names)) != len(names):
            raise ValueError(f"an attribute is listed twice in the hierarchy: {names}")
        if PRODUCT in names:
            raise ValueError(f"'{PRODUCT}' is the product level itself, not an attribute")
        if END_DATE in names:
            raise ValueError(f"'{END_DATE}' is when a product is discontinued, not an attribute")
        if LAUNCH_DATE in names:
            raise ValueError(f"'{LAUNCH_DATE}' is when a product was launched, not an attribute")
        object.__setattr__(self, "levels", names)

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.levels

    @property
    def pooling_attribute(self) -> str | None:
        """Attribute that pools seasonality, trend, price and promotion effects (outermost nest)."""
        if self.nested:
            return self.nested[0]
        return self.crossed[0] if self.crossed else None

    @classmethod
    def parse(cls, nested: str | None, crossed: str | None) -> Hierarchy:
        """Build from comma-separated CLI strings; ``None`` keeps the default, ``""`` means none."""

        def split(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
            if text is None:
                return default
            return tuple(part.strip() for part in text.split(",") if part.strip())

        return cls(split(nested, DEFAULT_NESTED), split(crossed, DEFAULT_CROSSED))
