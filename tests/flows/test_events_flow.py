"""The forecast flow reads the event calendar from the database and hands it to the design."""

import pytest

from forecast import runs, storage


def test_the_forecast_flow_passes_the_events_table_to_prepare(
    tiny_files, tmp_path, prefect_harness, monkeypatch
):
    from flows.forecast_flow import forecast_flow

    sales, products = tiny_files
    events = tmp_path / "events.csv"
    events.write_text("date,event,region\n2025-01-20,winter sale,\n2025-01-20,winter sale,north\n")
    db = tmp_path / "d.duckdb"
    with storage.connect(db) as con:
        storage.ingest(con, sales, products, events=events)

    seen = []

    class Prepared(Exception):
        pass

    def capture(sales, products, config, plan=None, events=None):
        seen.append(events)
        raise Prepared  # stop before anything is fitted

    monkeypatch.setattr(runs, "prepare", capture)
    with pytest.raises(Prepared):
        forecast_flow(db=str(db), progressbar=False)
    [frame] = seen
    assert frame[["event"]].to_dict("list") == {"event": ["winter sale"]}  # one row, whatever the region
    assert str(frame["date"].iloc[0].date()) == "2025-01-20"
