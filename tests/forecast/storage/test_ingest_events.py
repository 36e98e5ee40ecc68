"""Ingest of the event calendar: loaded once, read back for the forecast, a bad row refuses the
whole ingest with its file and row."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from forecast import storage
from forecast.storage import IngestError

PRODUCTS = "product_id,category,brand,color\nA,tops,k,red\n"
SALES = "date,product_id,quantity\n2024-01-01,A,1\n2024-01-08,A,2\n"


@pytest.fixture
def con():
    c = storage.connect(":memory:")
    yield c
    c.close()


@pytest.fixture
def inputs(tmp_path):
    sales, products = tmp_path / "s.csv", tmp_path / "p.csv"
    sales.write_text(SALES)
    products.write_text(PRODUCTS)
    return sales, products


def _events(con):
    return con.execute("select date::varchar, event, region from events order by all").fetchall()


def _count(con, table):
    return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_events_load_trimmed_with_an_optional_region_and_read_back(con, tmp_path, inputs):
    events = tmp_path / "events.csv"
    events.write_text(
        " Date ,EVENT,Region\n2024-12-25, Christmas ,\n2024-11-29,Black Friday,US\n2024-12-25,Christmas,\n"
    )
    summary = storage.ingest(con, *inputs, events=events)
    assert summary.events_read == 3 and summary.events_added == 2
    assert "events rows read 3, 2 new" in str(summary)
    assert _events(con) == [("2024-11-29", "Black Friday", "US"), ("2024-12-25", "Christmas", None)]
    read = storage.load_events(con)
    assert list(read.columns) == ["date", "event"] and len(read) == 2
    kinds = con.execute("select kind, rows_read from ingest_files order by kind").fetchall()
    assert kinds == [("events", 3), ("products", 1), ("sales", 2)]


def test_the_same_events_again_change_nothing(con, tmp_path, inputs):
    events = tmp_path / "events.csv"
    events.write_text("date,event\n2024-12-25,Christmas\n")
    storage.ingest(con, *inputs, events=events)
    again = storage.ingest(con, *inputs, events=events)
    assert again.already_ingested and _events(con) == [("2024-12-25", "Christmas", None)]
    # The same rows in a new file (another name, another row added): only the new row is added.
    more = tmp_path / "more.csv"
    more.write_text("date,event\n2024-12-25,Christmas\n2025-12-25,Christmas\n")
    summary = storage.ingest(con, *inputs, events=more)
    assert summary.events_read == 2 and summary.events_added == 1 and _count(con, "events") == 2


def test_a_parquet_calendar_loads_typed(con, tmp_path, inputs):
    events = tmp_path / "events.parquet"
    pd.DataFrame({"date": pd.to_datetime(["2024-12-25"]), "event": ["Christmas"]}).to_parquet(events)
    storage.ingest(con, *inputs, events=events)
    assert _events(con) == [("2024-12-25", "Christmas", None)]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "date,event\n2024-12-25,Christmas\n2024-13-01,Sale\nsoon,Sale\n",
            "row 2: date '2024-13-01' is not a date",
        ),
        ("date,event\n2024-12-25,Christmas\n,Sale\n", "row 2: the date is empty"),
        ("date,event,region\n2024-12-25,  ,US\n", "row 1: the event name is empty (date 2024-12-25)"),
        ("day,event\n2024-12-25,Christmas\n", "lacks required column(s) ['date']"),
        ("date,name\n2024-12-25,Christmas\n", "lacks required column(s) ['event']"),
        ("date,event\n", "has a header but no rows"),
    ],
)
def test_a_bad_calendar_is_one_line_naming_file_and_row_and_loads_nothing(con, tmp_path, inputs, text, says):
    events = tmp_path / "events.csv"
    events.write_text(text)
    with pytest.raises(IngestError) as raised:
        storage.ingest(con, *inputs, events=events)
    message = str(raised.value)
    assert "\n" not in message and str(events) in message and says in message, message
    # One transaction: not the events, and not the sales and products ingested with them either.
    for table in ("events", "sales", "products", "ingest_log", "ingest_files"):
        assert _count(con, table) == 0, table


def test_every_bad_row_is_counted_in_the_message(con, tmp_path, inputs):
    events = tmp_path / "events.csv"
    events.write_text("date,event\n2024-12-25,Christmas\n2024-02-30,Sale\nsoon,Sale\n2024-01-01,\n")
    with pytest.raises(IngestError, match=r"row 2: date '2024-02-30' is not a date .*; 3 bad rows in all"):
        storage.ingest(con, *inputs, events=events)


def test_the_cli_ingests_events_and_checks_them_first(tmp_path, inputs):
    sales, products = inputs
    db = tmp_path / "d.duckdb"
    good, bad = tmp_path / "events.csv", tmp_path / "bad.csv"
    good.write_text("date,event\n2024-12-25,Christmas\n")
    bad.write_text("day,event\n2024-12-25,Christmas\n")
    base = ["ingest", "--sales", str(sales), "--products", str(products), "--db", str(db)]
    result = CliRunner().invoke(app, [*base, "--events", str(bad)])
    assert result.exit_code == 1 and "lacks required column(s) ['date']" in result.output
    assert not db.exists()  # refused before the database was opened
    result = CliRunner().invoke(app, [*base, "--events", str(good)])
    assert result.exit_code == 0 and "events rows read 1, 1 new" in result.output, result.output
    with storage.connect(db) as con:
        assert _events(con) == [("2024-12-25", "Christmas", None)]
