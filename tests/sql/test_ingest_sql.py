"""The files of sql/ingest/ run directly on hand-made raw rows: one test per rejection rule, the
typed values of loaded rows, repeated keys, corrections and the products steps.

The reader (``forecast.storage.input_files``) is left out: a plain ``raw_sales`` table with the
columns of the view it defines stands in for the files. ``forecast/storage`` tests cover the whole
ingest, files included."""

import re
from pathlib import Path

import duckdb
import pytest

from forecast import storage
from forecast.storage.sql_files import INGEST_SQL_DIR, ingest_sql_files, run_sql_file

TRUNCATED = "truncated row: fewer fields than the header"
CONFLICT = "same date and product twice with different quantities"


@pytest.fixture
def con():
    c = storage.connect(":memory:")
    c.execute("insert into products (product_id, category) values ('A', 'tops'), ('B', 'home')")
    yield c
    c.close()


def row(
    date="2024-01-01",
    product_id="A",
    quantity="1",
    price=None,
    promo=None,
    availability=None,
    file="s.csv",
    padded=False,
):
    """One raw input row, as the reader gives it from a CSV file (text; None: no such field)."""
    return (file, padded, date, product_id, quantity, price, promo, availability)


def _stage(con, rows, decimal_comma=False):
    """raw_sales from ``rows`` (_row 1, 2, ... in list order), then the staging and reasons steps."""
    con.execute(
        "create or replace temp table raw_sales (_row bigint, _source_file varchar, _padded boolean, "
        "date varchar, product_id varchar, quantity varchar, price varchar, promo varchar, "
        "availability varchar)"
    )
    con.executemany(
        "insert into raw_sales values (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows, 1)]
    )
    run_sql_file(con, "03_stage_sales.sql", {"decimal_comma": decimal_comma})
    run_sql_file(con, "04_reasons.sql")


def _load(con, rows, ingest_id="i1", decimal_comma=False):
    """Every sales step, in the order and on the conditions ``ingest`` runs them; (replaced, rejected)."""
    _stage(con, rows, decimal_comma)
    if con.execute("select count(*) from duplicate_keys").fetchone()[0]:
        run_sql_file(con, "05_duplicate_rows.sql")
    if con.execute("select count(*) from sales").fetchone()[0]:
        step, params = "06_merge_sales.sql", {"ingest_id": ingest_id, "now": "2025-01-01 00:00:00"}
    else:
        step, params = "06_insert_sales.sql", {"ingest_id": ingest_id}
    replaced = run_sql_file(con, step, params).fetchone()[0]
    rejected = run_sql_file(con, "07_rejected_sales.sql", {"ingest_id": ingest_id}).fetchone()[0]
    return replaced, rejected


def _reason(con, source_row):
    """The reason ``rejected_sales`` holds for a row of s.csv; None: not rejected."""
    found = con.execute(
        "select reason from rejected_sales where source_file = 's.csv' and source_row = ?", [source_row]
    ).fetchall()
    return found[0][0] if found else None


def _sales(con):
    return con.execute(
        "select date::varchar, product_id, quantity, price, promo, ingest_id from sales order by all"
    ).fetchall()


def test_the_ingest_files_are_steps_apart_from_the_schema():
    files = ingest_sql_files()
    assert [f.name[:2] for f in files] == sorted(f.name[:2] for f in files) and len(files) >= 7
    assert not set(files) & set(storage.schema_files()), "sql/ingest must not be applied at connect time"
    assert all(f.parent == INGEST_SQL_DIR for f in files)


@pytest.mark.parametrize("file", ingest_sql_files(), ids=lambda f: f.name)
def test_each_file_says_what_it_reads_writes_and_takes(file: Path):
    text = file.read_text()
    header = text.split("\n\n")[0]
    assert header.startswith("-- ") and "Reads:" in header and "Writes:" in header, file.name
    used = {p for s in duckdb.extract_statements(text) for p in s.named_parameters}
    documented = set(re.findall(r"\$(\w+)", header))
    assert used == documented, f"{file.name}: parameters used {used}, documented {documented}"


def test_a_good_row_loads_with_its_typed_values(con):
    replaced, rejected = _load(con, [row(price="2.5", promo="1")])
    assert (replaced, rejected) == (0, 0)
    assert _sales(con) == [("2024-01-01", "A", 1, 2.5, True, "i1")]
    assert con.execute("select count(*) from rejected_sales").fetchone()[0] == 0


# One case per rule: raw values (over a good row's) and the reason they get.
RULES = [
    ("truncated", dict(padded=True), TRUNCATED),
    ("truncated first", dict(padded=True, date="nope", quantity="-1"), TRUNCATED),
    ("missing date", dict(date=None), "missing date"),
    ("blank date", dict(date="  "), "missing date"),
    ("impossible date", dict(date="2024-02-30"), "unparsable date"),
    ("unparsable date", dict(date="yesterday"), "unparsable date"),
    ("date before quantity", dict(date="yesterday", quantity="-1"), "unparsable date"),
    ("missing product", dict(product_id=""), "missing product_id"),
    ("blank product", dict(product_id=" \u00a0"), "missing product_id"),
    ("null product", dict(product_id=None), "missing product_id"),
    ("missing quantity", dict(quantity=""), "missing quantity"),
    ("null quantity", dict(quantity=None), "missing quantity"),
    ("text quantity", dict(quantity="abc"), "non-numeric quantity"),
    ("nan quantity", dict(quantity="NaN"), "non-numeric quantity"),
    ("infinite quantity", dict(quantity="1e400"), "non-numeric quantity"),
    ("negative quantity", dict(quantity="-1"), "negative quantity"),
    ("negative wins over fractional", dict(quantity="-0.5"), "negative quantity"),
    ("fractional quantity", dict(quantity="1.5"), "fractional quantity"),
    ("decimal comma off", dict(quantity="1,0"), "non-numeric quantity"),
    ("text price", dict(price="abc"), "non-numeric price"),
    ("zero price", dict(price="0"), "non-positive price"),
    ("negative price", dict(price="-3"), "non-positive price"),
    ("infinite price", dict(price="inf"), "non-positive price"),
    ("promo", dict(promo="maybe"), "unparsable promo (expected 0/1/true/false)"),
    ("price before promo", dict(price="abc", promo="maybe"), "non-numeric price"),
    ("unknown product", dict(product_id="Z"), "product not in the products file"),
    (
        "checks before the product",
        dict(product_id="Z", promo="maybe"),
        "unparsable promo (expected 0/1/true/false)",
    ),
]


@pytest.mark.parametrize(("values", "reason"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_rejects_its_row_with_its_reason(con, values, reason):
    bad = row(**{"date": "2024-01-08", **values})
    replaced, rejected = _load(con, [row(), bad])
    assert (replaced, rejected) == (0, 1)
    assert _reason(con, 1) is None and _reason(con, 2) == reason
    kept = con.execute(
        "select date, product_id, quantity, price, promo, availability from rejected_sales"
    ).fetchone()
    assert kept == bad[2:], "a rejected row keeps its raw text"
    assert _sales(con) == [("2024-01-01", "A", 1, None, False, "i1")]


def test_values_are_trimmed_and_typed(con):
    rows = [
        row(date=" 2024-01-01 ", product_id="\u00a0A\u00a0", quantity=" 2.0", price=" 1.25 ", promo="yes"),
        row(date="2024-01-08", quantity="0", price="", promo=""),
        row(date="2024-01-15", promo=" FALSE "),
        row(date="2024-01-22", promo="true"),
        row(date="2024-01-29", promo="no"),
    ]
    assert _load(con, rows) == (0, 0)
    assert _sales(con) == [
        ("2024-01-01", "A", 2, 1.25, True, "i1"),
        ("2024-01-08", "A", 0, None, False, "i1"),
        ("2024-01-15", "A", 1, None, False, "i1"),
        ("2024-01-22", "A", 1, None, True, "i1"),
        ("2024-01-29", "A", 1, None, False, "i1"),
    ]


def test_decimal_commas_only_when_asked(con):
    _load(con, [row(quantity="3,0", price="1,5")], decimal_comma=True)
    assert _sales(con) == [("2024-01-01", "A", 3, 1.5, False, "i1")]
    _stage(con, [row(price="1,5")], decimal_comma=False)
    assert con.execute("select reason from checked_sales").fetchone()[0] == "non-numeric price"


def test_valid_rows_keep_no_raw_text_and_rejected_rows_keep_all(con):
    _stage(con, [row(price="2"), row(quantity="-1", price="2", promo="0")])
    assert con.execute(
        "select reason, raw_date, raw_product, raw_quantity, raw_price, raw_promo from checked_sales order by _row"
    ).fetchall() == [
        (None, None, None, None, None, None),
        ("negative quantity", "2024-01-01", "A", "-1", "2", "0"),
    ]


def test_a_repeated_row_loads_once_and_the_repeat_is_a_duplicate(con):
    rows = [row(quantity="1", promo="0"), row(date=" 2024-01-01 ", quantity="1.0", promo="no")]
    assert _load(con, rows) == (0, 1)
    assert _sales(con) == [("2024-01-01", "A", 1, None, False, "i1")]
    # its raw text, which checked_sales did not keep, comes from raw_sales again
    assert con.execute("select source_row, date, quantity, promo, reason from rejected_sales").fetchall() == [
        (2, " 2024-01-01 ", "1.0", "no", "duplicate row")
    ]


def test_a_key_with_different_quantities_loads_none_of_its_rows(con):
    rows = [row(product_id="B", quantity="2"), row(), row(product_id="B", quantity=" 3")]
    assert _load(con, rows) == (0, 2)
    assert _sales(con) == [("2024-01-01", "A", 1, None, False, "i1")]
    assert con.execute("select source_row, quantity, reason from rejected_sales order by 1").fetchall() == [
        (1, "2", CONFLICT),
        (3, " 3", CONFLICT),
    ]


def test_a_rejected_row_does_not_count_as_a_repeat(con):
    assert _load(con, [row(), row(quantity="-1")]) == (0, 1)
    assert _reason(con, 2) == "negative quantity" and len(_sales(con)) == 1


def test_rows_are_numbered_within_their_file(con):
    rows = [row(file="a.csv"), row(file="a.csv", quantity="x"), row(file="b.csv", product_id="Z")]
    _load(con, rows)
    assert con.execute(
        "select source_file, source_row, reason from rejected_sales order by 1"
    ).fetchall() == [
        ("a.csv", 2, "non-numeric quantity"),
        ("b.csv", 1, "product not in the products file"),
    ]
    assert con.execute("select * from sales_file_rows order by 1").fetchall() == [
        ("a.csv", 2, 0),
        ("b.csv", 1, 2),
    ]


def test_a_later_file_corrects_loaded_rows_and_keeps_their_history(con):
    _load(con, [row(quantity="1", price="9.5"), row(product_id="B", quantity="2")], ingest_id="i1")
    later = [
        row(quantity="4", price="9.5"),  # corrected quantity
        row(product_id="B", quantity="2"),  # unchanged
        row(date="2024-01-08", quantity="7"),  # new
    ]
    assert _load(con, later, ingest_id="i2") == (1, 0)
    assert _sales(con) == [
        ("2024-01-01", "A", 4, 9.5, False, "i2"),
        ("2024-01-01", "B", 2, None, False, "i1"),
        ("2024-01-08", "A", 7, None, False, "i2"),
    ]
    assert con.execute(
        "select date::varchar, product_id, quantity, price, ingest_id, replaced_by from sales_history"
    ).fetchall() == [("2024-01-01", "A", 1, 9.5, "i1", "i2")]


@pytest.mark.parametrize("change", [dict(price="2"), dict(promo="1")], ids=["price", "promo"])
def test_a_changed_price_or_promo_is_a_correction_too(con, change):
    _load(con, [row()], ingest_id="i1")
    assert _load(con, [row(**change)], ingest_id="i2") == (1, 0)
    assert con.execute("select count(*) from sales_history").fetchone()[0] == 1


def test_the_same_rows_again_change_nothing(con):
    rows = [row(price="2", promo="1"), row(product_id="B"), row(quantity="-1", date="2024-01-08")]
    _load(con, rows, ingest_id="i1")
    before = _sales(con)
    assert _load(con, rows, ingest_id="i2") == (0, 1)
    assert _sales(con) == before
    assert con.execute("select count(*) from sales_history").fetchone()[0] == 0


def _raw_products(con, header, rows):
    columns = ", ".join(f"{c} varchar" for c in header)
    con.execute(f"create or replace temp table raw_products (_row bigint, _source_file varchar, {columns})")
    if rows:
        marks = ", ".join("?" for _ in range(len(header) + 2))
        con.executemany(
            f"insert into raw_products values ({marks})", [(i, "p.csv", *r) for i, r in enumerate(rows, 1)]
        )
    return run_sql_file(con, "01_stage_products.sql").fetchone()


def test_products_are_cleaned_and_their_problems_counted(con):
    header = ["product_id", "category", "brand"]
    assert _raw_products(con, header, [(" C ", " tops ", ""), ("D", "home", None)]) == (2, 0, [])
    assert con.execute("select * from clean_products order by 1").fetchall() == [
        ("C", "tops", None),
        ("D", "home", None),
    ]
    assert _raw_products(con, header, [("", "x", "y"), (None, "x", "y"), ("C", "x", "y")])[1] == 2
    rows = [("C", "tops", "k"), ("C", "tops", "m"), ("D", "x", None), ("D", "x", ""), ("E", "a", "b")]
    assert _raw_products(con, header, rows) == (5, 0, ["C"])
    assert _raw_products(con, header, []) == (0, 0, [])
    assert _raw_products(con, ["product_id"], [("C",), ("C",)]) == (2, 0, [])


def test_products_load_keeping_what_the_files_lack(con):
    con.execute("update products set color = 'red' where product_id = 'A'")
    _raw_products(con, ["product_id", "category"], [("A", "shoes"), ("C", "tops"), ("C", "tops")])
    run_sql_file(con, "02_load_products.sql")
    assert con.execute("select product_id, category, color from products order by 1").fetchall() == [
        ("A", "shoes", "red"),
        ("B", "home", None),
        ("C", "tops", None),
    ]


@pytest.mark.parametrize("column", ["end_date", "launch_date"])
def test_a_products_date_column_is_typed_and_its_first_bad_value_named(con, column):
    header = ["product_id", "category", column]
    rows = [("A", "tops", "2024-01-08"), ("B", "home", " "), ("C", "x", "soon"), ("D", "y", "2024-13-01")]
    _raw_products(con, header, rows)
    assert run_sql_file(con, "02_product_dates.sql", {"column": column}).fetchone() == (
        2,
        "p.csv",
        3,
        "C",
        "soon",
    )
    types = dict(con.execute("select column_name, column_type from (describe clean_products)").fetchall())
    assert types == {"product_id": "VARCHAR", "category": "VARCHAR", column: "DATE"}
    _raw_products(con, ["product_id", "launch_date", "end_date"], [("A", "2024-01-08", "2024-03-04")])
    for each in ("launch_date", "end_date"):  # the step runs once per date column, as ingest runs it
        assert run_sql_file(con, "02_product_dates.sql", {"column": each}).fetchone()[0] == 0
    types = dict(con.execute("select column_name, column_type from (describe clean_products)").fetchall())
    assert types["launch_date"] == types["end_date"] == "DATE"
    run_sql_file(con, "02_load_products.sql")
    got = con.execute("select launch_date::varchar, end_date::varchar from products where product_id = 'A'")
    assert got.fetchall() == [("2024-01-08", "2024-03-04")]


def test_a_parameter_a_step_needs_must_be_given(con):
    _stage(con, [row()])
    with pytest.raises(KeyError, match="ingest_id"):
        run_sql_file(con, "07_rejected_sales.sql")


def _bad_availability(con):
    return run_sql_file(con, "05_availability.sql").fetchone()


def test_availability_loads_as_a_share_and_empty_is_unknown(con):
    rows = [
        row(availability="1"),
        row(date="2024-01-08", availability=" 0.25 "),
        row(date="2024-01-15", availability="0"),
        row(date="2024-01-22", availability=""),
        row(date="2024-01-29"),
    ]
    _stage(con, rows)
    assert _bad_availability(con)[0] == 0
    assert _load(con, rows) == (0, 0)
    assert con.execute("select date::varchar, availability from sales order by date").fetchall() == [
        ("2024-01-01", 1.0),
        ("2024-01-08", 0.25),
        ("2024-01-15", 0.0),
        ("2024-01-22", None),
        ("2024-01-29", None),
    ]


def test_availability_takes_a_decimal_comma_only_when_asked(con):
    _load(con, [row(availability="0,5")], decimal_comma=True)
    assert con.execute("select availability from sales").fetchone()[0] == 0.5
    _stage(con, [row(availability="0,5")], decimal_comma=False)
    assert _bad_availability(con)[0] == 1


@pytest.mark.parametrize("value", ["-0.1", "1.5", "lots", "NaN", "inf"])
def test_an_availability_outside_0_to_1_is_found_with_its_file_and_row(con, value):
    rows = [row(file="a.csv"), row(file="b.csv"), row(file="b.csv", date="2024-01-08", availability=value)]
    _stage(con, rows)
    assert _bad_availability(con) == (1, "b.csv", 2, "A", "2024-01-08", value)


def test_the_first_bad_availability_is_named_and_all_are_counted(con):
    rows = [row(availability="2"), row(date="2024-01-08", availability="-1"), row(date="x", availability="9")]
    _stage(con, rows)
    assert _bad_availability(con) == (3, "s.csv", 1, "A", "2024-01-01", "2")


def test_a_rejected_row_keeps_its_availability_and_a_corrected_one_its_history(con):
    _load(con, [row(availability="0.5"), row(date="2024-01-08", quantity="-1", availability="0.2")])
    assert con.execute("select availability, reason from rejected_sales").fetchall() == [
        ("0.2", "negative quantity")
    ]
    assert _load(con, [row(availability="1")], ingest_id="i2") == (1, 0)
    assert con.execute("select availability from sales").fetchall() == [(1.0,)]
    assert con.execute("select availability, replaced_by from sales_history").fetchall() == [(0.5, "i2")]


def _raw_events(con, rows):
    """raw_events from ``(file, date, event[, region])`` rows (_row 1, 2, ... in list order), staged."""
    con.execute(
        "create or replace temp table raw_events (_row bigint, _source_file varchar, date varchar, "
        "event varchar, region varchar)"
    )
    con.executemany(
        "insert into raw_events values (?, ?, ?, ?, ?)",
        [(i, *r, *(() if len(r) == 4 else (None,))) for i, r in enumerate(rows, 1)],
    )
    return run_sql_file(con, "08_stage_events.sql").fetchone()


def test_events_are_typed_and_the_first_bad_row_named_within_its_file(con):
    rows = [("a.csv", " 2024-12-25 ", " Christmas ", ""), ("a.csv", "2024-12-25", "Christmas", None)]
    assert _raw_events(con, rows) == (2, 0, None, None, None, None)
    assert con.execute("select date::varchar, event, region from clean_events").fetchall() == [
        ("2024-12-25", "Christmas", None)
    ]
    bad = [("a.csv", "2024-12-25", "x"), ("b.csv", "2024-01-01", "y"), ("b.csv", "25/12/2024", "z")]
    assert _raw_events(con, bad + [("b.csv", "", "w"), ("b.csv", "2024-01-02", " ")]) == (
        5,
        3,
        "b.csv",
        2,
        "not a date",
        "25/12/2024",
    )
    assert _raw_events(con, [("a.csv", None, "w")])[4] == "empty date"
    assert _raw_events(con, [("a.csv", "2024-01-02", "")])[4:] == ("empty event", "2024-01-02")


def test_events_load_once_per_date_event_and_region(con):
    rows = [("a.csv", "2024-12-25", "Christmas"), ("a.csv", "2024-11-29", "Black Friday", "US")]
    _raw_events(con, rows)
    assert run_sql_file(con, "09_load_events.sql", {"ingest_id": "i1"}).fetchone()[0] == 2
    _raw_events(con, rows + [("a.csv", "2024-11-29", "Black Friday", "CA")])
    assert run_sql_file(con, "09_load_events.sql", {"ingest_id": "i2"}).fetchone()[0] == 1
    assert con.execute("select region, ingest_id from events order by all").fetchall() == [
        ("CA", "i2"),
        ("US", "i1"),
        (None, "i1"),
    ]
