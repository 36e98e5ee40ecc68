"""Ingest: many files, column maps, every validation case, incremental loads and corrections."""

import duckdb
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.schema import Hierarchy
from forecast.storage import IngestError

PRODUCTS = "product_id,category,brand,color\nA,tops,k,red\nB,tops,m,blue\n"


@pytest.fixture
def con():
    c = storage.connect(":memory:")
    yield c
    c.close()


@pytest.fixture
def products(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(PRODUCTS)
    return path


def _count(con, table, where="true"):
    return con.execute(f"select count(*) from {table} where {where}").fetchone()[0]


def _balanced(con, summary):
    """rows read = loaded + rejected, in the summary and in the tables."""
    assert summary.rows_read == summary.rows_loaded + summary.rows_rejected
    assert _count(con, "rejected_sales", f"ingest_id = '{summary.ingest_id}'") == summary.rows_rejected
    return True


def _reasons(con, ingest_id=None):
    where = f"where ingest_id = '{ingest_id}'" if ingest_id else ""
    return dict(con.execute(f"select source_row, reason from rejected_sales {where}").fetchall())


def test_a_glob_a_folder_and_a_list_read_the_same_rows(tmp_path, products):
    folder = tmp_path / "sales"
    folder.mkdir()
    (folder / "w1.csv").write_text("date,product_id,quantity\n2024-01-01,A,1\n2024-01-01,B,2\n")
    (folder / "w2.csv").write_text("date,product_id,quantity\n2024-01-08,A,3\n")
    (folder / "notes.md").write_text("not data")
    for spec in (folder, str(folder / "w*.csv"), [folder / "w1.csv", folder / "w2.csv"]):
        con = storage.connect(":memory:")
        s = storage.ingest(con, spec, products)
        assert (s.rows_read, s.rows_loaded, s.files_loaded) == (3, 3, 3) and _balanced(con, s)
        assert con.execute("select sum(quantity) from sales").fetchone()[0] == 6
        con.close()
    with pytest.raises(IngestError, match="no files match"):
        storage.ingest(storage.connect(":memory:"), str(tmp_path / "none*.csv"), products)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no CSV or Parquet files in folder"):
        storage.ingest(storage.connect(":memory:"), tmp_path / "empty", products)


def test_rejected_rows_name_their_file_and_row(con, tmp_path, products):
    (tmp_path / "a.csv").write_text("date,product_id,quantity\n2024-01-01,A,1\n2024-01-08,A,-1\n")
    (tmp_path / "b.csv").write_text("date,product_id,quantity\n2024-01-15,Z,1\n")
    s = storage.ingest(con, str(tmp_path / "[ab].csv"), products)
    assert _balanced(con, s) and s.rows_loaded == 1
    rows = con.execute("select source_file, source_row, reason from rejected_sales order by 1").fetchall()
    assert rows == [
        (str(tmp_path / "a.csv"), 2, "negative quantity"),
        (str(tmp_path / "b.csv"), 1, "product not in the products file"),
    ]


def test_parquet_glob_and_column_map(con, tmp_path):
    pd.DataFrame({"sku": ["A", "B"], "Category": ["tops", "home"]}).to_parquet(tmp_path / "p.parquet")
    for week, units in ((1, [1, 2]), (8, [3, 4])):
        pd.DataFrame(
            {"day": pd.to_datetime([f"2024-01-{week:02d}"] * 2), "sku": ["A", "B"], "units": units}
        ).to_parquet(tmp_path / f"s{week}.parquet")
    s = storage.ingest(
        con,
        str(tmp_path / "s*.parquet"),
        tmp_path / "p.parquet",
        column_map={"day": "date", "sku": "product_id", "units": "quantity"},
    )
    assert (s.rows_read, s.rows_loaded) == (4, 4) and _balanced(con, s)
    assert con.execute("select sum(quantity) from sales where product_id = 'B'").fetchone()[0] == 6
    # DuckDB column names ignore case: 'Category' fills the category column
    assert con.execute("select category from products order by 1").fetchall() == [("home",), ("tops",)]


def test_column_map_mistakes_are_one_line_errors(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text("day,product_id,qty\n2024-01-01,A,1\n")
    with pytest.raises(IngestError, match=r"lacks required column\(s\) \['date', 'quantity'\].*--map"):
        storage.ingest(con, sales, products)
    with pytest.raises(IngestError, match=r"column map names column\(s\) \['dia'\] that no input file has"):
        storage.ingest(con, sales, products, column_map={"dia": "date", "qty": "quantity"})
    with pytest.raises(IngestError, match="not contract columns"):
        storage.ingest(con, sales, products, column_map={"day": "when"})
    s = storage.ingest(con, sales, products, column_map={"day": "date", "qty": "quantity"})
    assert s.rows_loaded == 1 and _balanced(con, s)
    # contract names match whatever their case and padding
    loose = tmp_path / "loose.csv"
    loose.write_text(" Date ,PRODUCT_ID,Quantity\n2024-01-08,A,2\n")
    assert storage.ingest(con, loose, products).rows_loaded == 1


def test_empty_and_header_only_files(con, tmp_path, products):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(IngestError, match="file is empty"):
        storage.ingest(con, empty, products)
    header = tmp_path / "header.csv"
    header.write_text("date,product_id,quantity\n")
    with pytest.raises(IngestError, match=f"sales file {header} has a header but no rows"):
        storage.ingest(con, header, products)
    assert _count(con, "ingest_log") == 0 and _count(con, "products") == 0


def test_dates_quantities_and_prices(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text(
        "date,product_id,quantity,price\n"
        "2024-02-30,A,1,1\n"  # 1 impossible date
        "yesterday,A,1,1\n"  # 2 unparsable date
        "2024-01-01,A,1e400,1\n"  # 3 overflows to inf: not a number of units
        "2024-01-01,A,NaN,1\n"  # 4
        "2024-01-01,A,-0.5,1\n"  # 5 negative wins over fractional
        "2024-01-01,A,2.0,1\n"  # 6 good: 2.0 is a whole number
        "2024-01-08,A,1,-3\n"  # 7 negative price
        "2024-01-15,A,1,abc\n"  # 8 non-numeric price
        "2024-01-22,A,1,\n"  # 9 good, price unknown
        "2024-01-29,A,,1\n"  # 10 missing quantity
        "2024-02-05,,1,1\n"  # 11 missing product
    )
    s = storage.ingest(con, sales, products)
    assert (s.rows_read, s.rows_loaded) == (11, 2) and _balanced(con, s)
    assert _reasons(con) == {
        1: "unparsable date",
        2: "unparsable date",
        3: "non-numeric quantity",
        4: "non-numeric quantity",
        5: "negative quantity",
        7: "non-positive price",
        8: "non-numeric price",
        10: "missing quantity",
        11: "missing product_id",
    }
    assert con.execute("select quantity from sales where date = '2024-01-01'").fetchone()[0] == 2


def test_conflicting_products_are_refused_whole(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text("product_id,category,brand,color\nA,tops,k,red\nA,tops,k,blue\nB,tops,m,red\n")
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,B,1\n")
    with pytest.raises(IngestError, match=r"conflicting attributes for \['A'\]"):
        storage.ingest(con, sales, products)
    assert _count(con, "products") == 0 and _count(con, "sales") == 0
    # the same product twice with the same attributes is not a conflict
    products.write_text("product_id,category,brand,color\nA,tops,k,red\nA,tops,k,red\n")
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    assert storage.ingest(con, sales, products).products_read == 2
    assert _count(con, "products") == 1


def test_latin1_fails_clearly_unless_declared(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_bytes("product_id,category,brand,color\nCafé,tops,k,red\n".encode("latin-1"))
    sales = tmp_path / "s.csv"
    sales.write_bytes("date,product_id,quantity\n2024-01-01,Café,1\n".encode("latin-1"))
    with pytest.raises(IngestError, match=r"is not utf-8 encoded.*encoding='latin-1'") as err:
        storage.ingest(con, sales, products)
    assert "\n" not in str(err.value)
    assert _count(con, "sales") == 0
    s = storage.ingest(con, sales, products, encoding="latin-1")
    assert s.rows_loaded == 1 and _balanced(con, s)
    assert con.execute("select product_id from sales").fetchone()[0] == "Café"


def test_a_truncated_last_row_is_rejected_not_guessed(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text(
        "date,product_id,quantity,price,promo\n2024-01-01,A,1,2.5,0\n2024-01-08,A,1,,\n2024-01-15,A,3,2."
    )
    s = storage.ingest(con, sales, products)
    assert (s.rows_read, s.rows_loaded) == (3, 2) and _balanced(con, s)
    assert _reasons(con) == {3: "truncated row: fewer fields than the header"}
    cut_in_quotes = tmp_path / "q.csv"
    cut_in_quotes.write_text('date,product_id,quantity\n2024-01-01,A,1\n2024-01-08,"A')
    with pytest.raises(IngestError, match="unterminated quote or truncated file"):
        storage.ingest(con, cut_in_quotes, products)


def test_extra_fields_are_a_file_error(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n2024-01-08,A,1,5\n")
    with pytest.raises(IngestError, match="more fields than its header"):
        storage.ingest(con, sales, products)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_awkward_product_ids_round_trip_unchanged(con, tmp_path, fmt):
    ids = [
        'O\'Brien "quoted"',
        "a,b,c",
        "café ☕ 商品",
        "x'); drop table sales; --",
        "1; delete from products",
        "tab\tin",
    ]
    prods = pd.DataFrame({"product_id": ids, "category": "c", "brand": "b", "color": "red"})
    sales = pd.DataFrame({"date": "2024-01-01", "product_id": ids, "quantity": range(1, len(ids) + 1)})
    p, s = tmp_path / f"p.{fmt}", tmp_path / f"s.{fmt}"
    if fmt == "csv":
        prods.to_csv(p, index=False)
        sales.to_csv(s, index=False)
    else:
        prods.to_parquet(p)
        sales.to_parquet(s)
    summary = storage.ingest(con, s, p)
    assert summary.rows_loaded == len(ids) and _balanced(con, summary)
    got = dict(con.execute("select product_id, quantity from sales").fetchall())
    assert got == dict(zip(ids, range(1, len(ids) + 1), strict=True))
    assert sorted(r[0] for r in con.execute("select product_id from products").fetchall()) == sorted(ids)


def test_same_files_twice_change_nothing_products_included(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    first = storage.ingest(con, sales, products)
    copy = tmp_path / "copy_of_s.csv"
    copy.write_bytes(sales.read_bytes())
    again = storage.ingest(con, copy, products)
    assert again.already_ingested and again.ingest_id == first.ingest_id
    assert _count(con, "ingest_log") == 1 and _count(con, "ingest_files") == 2
    fps = con.execute("select kind, rows_read from ingest_files order by kind").fetchall()
    assert fps == [("products", 2), ("sales", 1)]


def test_incremental_weeks_and_corrections_keep_history(con, tmp_path, products):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "w1.csv").write_text("date,product_id,quantity,price\n2024-01-01,A,1,9.5\n2024-01-01,B,2,3\n")
    first = storage.ingest(con, folder, products)
    (folder / "w2.csv").write_text("date,product_id,quantity,price\n2024-01-08,A,5,9.5\n")
    second = storage.ingest(con, folder, products)
    assert (second.rows_read, second.files_skipped, second.products_read) == (1, 2, 0)
    assert _count(con, "sales") == 3
    fix = tmp_path / "fix.csv"
    fix.write_text(
        "date,product_id,quantity,price\n"
        "2024-01-01,A,4,9.5\n"  # corrected quantity
        "2024-01-01,B,2,3\n"  # unchanged
        "2024-01-15,B,7,3\n"  # new
    )
    third = storage.ingest(con, fix, products)
    assert (third.rows_read, third.rows_loaded, third.rows_replaced) == (3, 3, 1) and _balanced(con, third)
    assert _count(con, "sales") == 4
    assert con.execute(
        "select quantity, ingest_id from sales where date = '2024-01-01' and product_id = 'A'"
    ).fetchone() == (
        4,
        third.ingest_id,
    )
    history = con.execute(
        "select date::varchar, product_id, quantity, ingest_id, replaced_by from sales_history"
    ).fetchall()
    assert history == [("2024-01-01", "A", 1, first.ingest_id, third.ingest_id)]
    assert storage.ingest(con, fix, products).already_ingested
    assert _count(con, "sales_history") == 1


def test_an_ingest_lands_whole_or_not_at_all(con, tmp_path, products):
    good = tmp_path / "good.csv"
    good.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,product_id,units\n2024-01-08,A,1\n")
    with pytest.raises(IngestError):
        storage.ingest(con, [good, bad], products)
    for table in ("sales", "products", "ingest_log", "ingest_files", "rejected_sales"):
        assert _count(con, table) == 0, table


def test_rows_a_repeated_key_rejects_keep_their_raw_text(con, tmp_path, products):
    # valid rows keep no raw text in the validation table: a repeated key's rows get theirs re-read
    (tmp_path / "a.csv").write_text(
        "date,product_id,quantity,promo\n2024-01-01,A,1,0\n 2024-01-01 ,A,1.0,no\n"
    )
    (tmp_path / "b.csv").write_text(
        "date,product_id,quantity,promo\n2024-01-08,B,2,1\n2024-01-01,\u00a0A\u00a0,\u00a01,false\n2024-01-08,B, 3,1\n"
    )
    s = storage.ingest(con, str(tmp_path / "[ab].csv"), products)
    assert (s.rows_read, s.rows_loaded, s.rows_rejected) == (5, 1, 4) and _balanced(con, s)
    rows = con.execute(
        "select source_file, source_row, date, product_id, quantity, promo, reason from rejected_sales order by 1, 2"
    ).fetchall()
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")
    conflict = "same date and product twice with different quantities"
    assert rows == [
        (a, 2, " 2024-01-01 ", "A", "1.0", "no", "duplicate row"),
        (b, 1, "2024-01-08", "B", "2", "1", conflict),
        (b, 2, "2024-01-01", "\u00a0A\u00a0", "\u00a01", "false", "duplicate row"),
        (b, 3, "2024-01-08", "B", " 3", "1", conflict),
    ]
    assert con.execute("select date::varchar, product_id, quantity, promo from sales").fetchall() == [
        ("2024-01-01", "A", 1, False)
    ]


def test_a_database_created_with_the_sales_primary_key_still_ingests(tmp_path, products):
    # the first schema had `primary key (date, product_id)` on sales; DuckDB cannot drop it, so such
    # a database keeps it and ingest (inserts, corrections, history) must work the same with it
    db = tmp_path / "old.duckdb"
    old = duckdb.connect(str(db))
    old.execute(
        "create table sales (date date not null, product_id varchar not null, quantity bigint not null, "
        "price double, promo boolean, ingest_id varchar not null, primary key (date, product_id))"
    )
    old.close()
    con = storage.connect(db)
    keys = con.execute(
        "select count(*) from duckdb_constraints() where table_name = 'sales' and constraint_type = 'PRIMARY KEY'"
    )
    assert keys.fetchone()[0] == 1
    w1 = tmp_path / "w1.csv"
    w1.write_text("date,product_id,quantity\n2024-01-01,A,1\n2024-01-01,B,2\n")
    first = storage.ingest(con, w1, products)
    fix = tmp_path / "fix.csv"
    fix.write_text("date,product_id,quantity\n2024-01-01,A,5\n2024-01-08,A,1\n")
    second = storage.ingest(con, fix, products)
    assert (second.rows_loaded, second.rows_replaced) == (2, 1) and _balanced(con, second)
    assert con.execute("select product_id, date::varchar, quantity from sales order by 1, 2").fetchall() == [
        ("A", "2024-01-01", 5),
        ("A", "2024-01-08", 1),
        ("B", "2024-01-01", 2),
    ]
    assert con.execute("select quantity, ingest_id, replaced_by from sales_history").fetchall() == [
        (1, first.ingest_id, second.ingest_id)
    ]
    con.close()


def test_new_databases_keep_one_row_per_key_without_a_primary_key(con, tmp_path, products):
    keys = "select count(*) from duckdb_constraints() where table_name = 'sales' and constraint_type = 'PRIMARY KEY'"
    assert con.execute(keys).fetchone()[0] == 0
    for week, text in enumerate(("2024-01-01,A,1\n2024-01-01,B,2\n", "2024-01-01,A,1\n2024-01-01,B,3\n")):
        f = tmp_path / f"w{week}.csv"
        f.write_text("date,product_id,quantity\n" + text)
        storage.ingest(con, f, products)
    assert con.execute("select count(*), count(distinct (date, product_id)) from sales").fetchone() == (2, 2)
    assert _count(con, "sales_history") == 1


def test_semicolon_files_with_decimal_commas_load_like_comma_files(con, tmp_path):
    """A spreadsheet's European CSV: semicolons between fields, commas in numbers."""
    (tmp_path / "p.csv").write_text("product_id;category;brand;color\nA;tops;k;red\n")
    (tmp_path / "s.csv").write_text("date;product_id;quantity;price\n2024-01-01;A;3;1,5\n2024-01-08;A;2;2\n")
    s = storage.ingest(con, tmp_path / "s.csv", tmp_path / "p.csv")
    assert s.rows_loaded == 2 and s.rows_rejected == 0
    assert con.execute("select price from sales order by date").fetchall() == [(1.5,), (2.0,)]
    assert con.execute("select brand from products").fetchone()[0] == "k"


def test_tab_files_and_a_delimiter_given(con, tmp_path):
    """A given delimiter applies to both inputs."""
    (tmp_path / "s.tsv").write_text("date\tproduct_id\tquantity\n2024-01-01\tA\t3\n")
    (tmp_path / "p.tsv").write_text("product_id\tcategory\tbrand\tcolor\nA\ttops\tk\tred\n")
    assert storage.csv_delimiter(tmp_path / "s.tsv") == "\t"
    assert storage.ingest(con, tmp_path / "s.tsv", tmp_path / "p.tsv", delimiter="\t").rows_loaded == 1
    assert storage.parse_delimiter("tab") == "\t" and storage.parse_delimiter(None) is None
    with pytest.raises(IngestError, match="one character"):
        storage.parse_delimiter(";;")


def test_a_wrong_delimiter_names_the_file_and_the_right_one(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text("product_id;category;brand;color\nA;tops;k;red\n")
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,3\n")
    with pytest.raises(IngestError, match=f"sales file {sales} reads as one column .* --delimiter ','"):
        storage.check_headers(sales, products, delimiter=";")
    assert _count(con, "sales") == 0


def test_a_comma_in_a_comma_file_still_fails_the_file(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,3,4\n")
    with pytest.raises(IngestError, match=f"sales file .*{sales.name}.* more fields than its header"):
        storage.ingest(con, sales, products)


def test_a_products_file_without_a_default_attribute_is_named_in_a_warning(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text("product_id,category,color\nA,tops,red\n")
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,3\n")
    (warning,) = storage.check_headers(sales, products)
    assert str(products) in warning and "['brand']" in warning
    assert storage.ingest(con, sales, products).warnings == [warning]


def test_header_only_files_are_named_before_anything_is_read(tmp_path, products):
    header = tmp_path / "h.csv"
    header.write_text("date,product_id,quantity\n")
    with pytest.raises(IngestError, match=f"sales file {header} has a header but no rows"):
        storage.check_headers(header, products)
    with pytest.raises(IngestError, match=f"products file {header} has a header but no rows"):
        storage.check_headers(products, header)
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,3\n")
    with pytest.raises(IngestError, match=f"products file {sales} has no 'product_id' column"):
        storage.check_headers(sales, sales, column_map={"product_id": "sku"})


def test_forecast_inputs_are_checked_in_the_database(con, tmp_path, products):
    with pytest.raises(ValueError, match="no products"):
        storage.check_forecast_inputs(con, ("category",))
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,3\n")
    storage.ingest(con, sales, products)
    storage.check_forecast_inputs(con, ("category", "brand", "color"))
    with pytest.raises(ValueError, match=r"no column\(s\) \['region'\]"):
        storage.check_forecast_inputs(con, ("category", "region"))
    con.execute("update products set brand = null")
    with pytest.raises(ValueError, match=r"no product has a value for \['brand'\]"):
        storage.check_forecast_inputs(con, ("category", "brand"))


def test_an_end_date_loads_as_a_date_and_empty_means_on_sale(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text("product_id,category,brand,color,End_Date\nA,tops,k,red,2024-01-08\nB,tops,m,red, \n")
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n2024-01-01,B,2\n")
    storage.ingest(con, sales, products)
    types = dict(con.execute("select column_name, column_type from (describe products)").fetchall())
    assert types["end_date"] == "DATE"
    assert con.execute("select product_id, end_date::varchar from products order by 1").fetchall() == [
        ("A", "2024-01-08"),
        ("B", None),
    ]
    # not an attribute: the long view of attributes has none
    assert _count(con, "product_attributes", "lower(attribute) = 'end_date'") == 0
    assert _count(con, "product_attributes", "attribute = 'category'") == 2
    with pytest.raises(ValueError, match=r"their attributes: \['category', 'brand', 'color'\] "):
        storage.check_forecast_inputs(con, ("region",))
    with pytest.raises(ValueError, match="not an attribute"):
        Hierarchy(nested=("category",), crossed=("end_date",))


def test_a_products_file_without_an_end_date_leaves_it_empty(con, products, tmp_path):
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    storage.ingest(con, sales, products)
    assert _count(con, "products") == 2 and _count(con, "products", "end_date is not null") == 0
    assert {r[0] for r in con.execute("select distinct attribute from product_attributes").fetchall()} == {
        "category",
        "brand",
        "color",
    }


def test_an_end_date_that_is_not_a_date_is_refused_whole(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text(
        "product_id,category,brand,color,end_date\nA,tops,k,red,2024-01-08\nB,tops,m,red,soon\nC,x,y,z,2024-02-30\n"
    )
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    with pytest.raises(IngestError) as raised:
        storage.ingest(con, sales, products)
    message = str(raised.value)
    assert "\n" not in message
    assert str(products) in message and "row 2" in message and "'B'" in message and "'soon'" in message
    assert "2 such rows" in message
    assert _count(con, "products") == 0 and _count(con, "sales") == 0 and _count(con, "ingest_log") == 0


def test_a_parquet_end_date_loads_typed(con, tmp_path):
    products = tmp_path / "p.parquet"
    pd.DataFrame(
        {
            "product_id": ["A", "B"],
            "category": ["tops", "tops"],
            "brand": ["k", "m"],
            "color": ["red", "red"],
            "end_date": pd.to_datetime(["2024-01-08", None]),
        }
    ).to_parquet(products)
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    storage.ingest(con, sales, products)
    assert con.execute("select product_id, end_date::varchar from products order by 1").fetchall() == [
        ("A", "2024-01-08"),
        ("B", None),
    ]


def test_a_launch_date_loads_as_a_date_beside_an_end_date_and_is_no_attribute(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text(
        "product_id,category,brand,color,Launch_Date,end_date\n"
        "A,tops,k,red,2024-01-08,\nB,tops,m,red, ,2024-03-04\nC,home,m,blue,2023-06-05,\n"
    )
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,B,2\n2024-01-15,A,1\n")
    storage.ingest(con, sales, products)
    types = dict(con.execute("select column_name, column_type from (describe products)").fetchall())
    assert types["launch_date"] == "DATE" and types["end_date"] == "DATE"
    got = con.execute("select product_id, launch_date::varchar, end_date::varchar from products order by 1")
    assert got.fetchall() == [("A", "2024-01-08", None), ("B", None, "2024-03-04"), ("C", "2023-06-05", None)]
    assert _count(con, "product_attributes", "lower(attribute) = 'launch_date'") == 0
    with pytest.raises(ValueError, match=r"their attributes: \['category', 'brand', 'color'\] "):
        storage.check_forecast_inputs(con, ("region",))
    with pytest.raises(ValueError, match="not an attribute"):
        Hierarchy(nested=("category", "launch_date"))
    sales, products = storage.load_training_data(con)
    assert products.set_index("product_id")["launch_date"].notna().tolist() == [True, False, True]


def test_a_launch_date_that_is_not_a_date_is_refused_whole(con, tmp_path):
    products = tmp_path / "p.csv"
    products.write_text(
        "product_id,category,brand,color,launch_date\nA,tops,k,red,2024-01-08\nB,tops,m,red,\n"
        "C,x,y,z,next week\n"
    )
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-01,A,1\n")
    with pytest.raises(IngestError) as raised:
        storage.ingest(con, sales, products)
    message = str(raised.value)
    assert "\n" not in message and "such rows" not in message
    assert str(products) in message and "row 3" in message and "'C'" in message
    assert "launch_date 'next week' is not a date" in message
    assert _count(con, "products") == 0 and _count(con, "sales") == 0 and _count(con, "ingest_log") == 0


def test_a_products_file_without_a_launch_date_keeps_the_one_loaded(con, tmp_path):
    first = tmp_path / "p1.csv"
    first.write_text("product_id,category,brand,color,launch_date\nA,tops,k,red,2024-01-08\n")
    later = tmp_path / "p2.csv"
    later.write_text("product_id,category,brand,color\nA,shoes,k,red\nB,tops,m,red\n")
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity\n2024-01-15,A,1\n")
    storage.ingest(con, sales, first)
    storage.ingest(con, sales, later)
    got = con.execute("select product_id, category, launch_date::varchar from products order by 1").fetchall()
    assert got == [("A", "shoes", "2024-01-08"), ("B", "tops", None)]


def test_availability_loads_and_reaches_the_forecast_inputs(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text(
        "date,product_id,quantity,Availability\n"
        "2024-01-01,A,1,1\n2024-01-08,A,0,0\n2024-01-15,A,2,0.5\n2024-01-22,A,3,\n2024-01-01,B,2,1\n"
    )
    summary = storage.ingest(con, sales, products)
    assert summary.rows_loaded == 5 and _balanced(con, summary)
    got = con.execute("select product_id, date::varchar, availability from sales order by 1, 2").fetchall()
    assert got == [
        ("A", "2024-01-01", 1.0),
        ("A", "2024-01-08", 0.0),
        ("A", "2024-01-15", 0.5),
        ("A", "2024-01-22", None),
        ("B", "2024-01-01", 1.0),
    ]
    frame, _ = storage.load_training_data(con)
    assert frame["availability"].isna().sum() == 1 and (frame["availability"] < 1).sum() == 2


def test_a_sales_file_without_availability_loads_as_before(con, tmp_path, products):
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity,price\n2024-01-01,A,1,2.5\n2024-01-08,A,-1,2.5\n")
    summary = storage.ingest(con, sales, products)
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 1)
    assert _count(con, "sales", "availability is null") == 1
    assert _count(con, "rejected_sales", "availability is null") == 1
    frame, _ = storage.load_training_data(con)
    assert list(frame.columns) == ["date", "product_id", "quantity", "price", "promo"]


@pytest.mark.parametrize(
    ("value", "fmt"),
    [("-0.2", "csv"), ("1.5", "csv"), ("in stock", "csv"), (-3.0, "parquet"), (1.2, "parquet")],
)
def test_a_bad_availability_is_one_line_naming_the_file_and_row_and_nothing_loads(
    con, tmp_path, products, value, fmt
):
    good = tmp_path / "good.csv"
    good.write_text("date,product_id,quantity\n2024-01-01,B,1\n")
    storage.ingest(con, good, products)
    before = (_count(con, "sales"), _count(con, "ingest_log"), _count(con, "rejected_sales"))
    frame = pd.DataFrame(
        {
            "date": ["2024-01-08", "2024-01-15", "2024-01-22"],
            "product_id": ["A", "A", "Z"],  # Z: an unknown product, which alone would be a rejected row
            "quantity": ["1", "2", "1"],
            "availability": ["1", value, "0.5"] if fmt == "csv" else [1.0, value, 0.5],
        }
    )
    sales = tmp_path / f"s.{fmt}"
    if fmt == "csv":
        frame.to_csv(sales, index=False)
    else:
        frame.astype({"quantity": int}).to_parquet(sales)
    new_products = tmp_path / "p2.csv"
    new_products.write_text(PRODUCTS + "C,home,n,red\n")
    with pytest.raises(IngestError) as raised:
        storage.ingest(con, sales, new_products)
    message = str(raised.value)
    assert "\n" not in message
    assert f"sales file {sales} row 2 (product 'A', date 2024-01-15)" in message
    assert (
        f"availability '{value}'" in message and "from 0 to 1" in message and "nothing was loaded" in message
    )
    assert (_count(con, "sales"), _count(con, "ingest_log"), _count(con, "rejected_sales")) == before
    assert _count(con, "products", "product_id = 'C'") == 0  # the products file of that ingest neither


def test_a_database_created_before_availability_gains_it(tmp_path, products):
    db = tmp_path / "old.duckdb"
    old = duckdb.connect(str(db))
    old.execute(
        "create table sales (date date not null, product_id varchar not null, quantity bigint not null, "
        "price double, promo boolean, ingest_id varchar not null)"
    )
    old.execute("insert into sales values ('2024-01-01', 'A', 4, null, false, 'old')")
    old.close()
    con = storage.connect(db)
    sales = tmp_path / "s.csv"
    sales.write_text("date,product_id,quantity,availability\n2024-01-01,A,1,0.25\n2024-01-08,A,1,1\n")
    summary = storage.ingest(con, sales, products)
    assert (summary.rows_loaded, summary.rows_replaced) == (2, 1)
    assert con.execute("select date::varchar, quantity, availability from sales order by 1").fetchall() == [
        ("2024-01-01", 1, 0.25),
        ("2024-01-08", 1, 1.0),
    ]
    assert con.execute("select quantity, availability from sales_history").fetchall() == [(4, None)]
    con.close()
