"""Ingest's input files: finding them, their delimiter and encoding, their headers, and the DuckDB
readers that read them (CSV fields as text, file name and row number kept).

The validation itself is SQL in ``sql/ingest/`` (see ``forecast.storage.ingest``); this module only
says which files, how to read them, and under which column names: the ``raw_sales`` view it defines
is what that SQL reads."""

from __future__ import annotations

import glob
import gzip
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb

from forecast.contract.schema import (
    AVAILABILITY,
    DATE,
    DEFAULT_CROSSED,
    DEFAULT_NESTED,
    END_DATE,
    LAUNCH_DATE,
    PRICE,
    PRODUCT,
    PROMO,
    QUANTITY,
    SALES_REQUIRED,
)
from forecast.storage.connection import quote_ident, sql_literal


class IngestError(ValueError):
    """The input cannot be loaded at all (a file-level problem, not a bad row)."""


FilesSpec = str | Path | Sequence[str | Path]


# Marks a CSV field as NULL; no real file holds it, so an empty field reads as '' and only the
# fields DuckDB pads onto a short (truncated) row read as NULL.
_NO_NULL = "\x01<none>\x01"


_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")


_PARQUET_SUFFIXES = (".parquet", ".pq")


CONTRACT_COLUMNS = (DATE, PRODUCT, QUANTITY, PRICE, PROMO, AVAILABILITY, LAUNCH_DATE, END_DATE)


def file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


def resolve_files(spec: FilesSpec) -> list[Path]:
    """Input files from one path, a glob (``data/sales_*.csv``), a folder, or a list of those.

    A folder means its CSV and Parquet files (not recursive). Every file must exist, be non-empty
    and be CSV (``.csv``, ``.csv.gz``, ``.txt``) or Parquet; files come back sorted and unique.
    """
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    files: list[Path] = []
    for item in specs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and file_kind(f))
            if not found:
                raise IngestError(f"no CSV or Parquet files in folder {path}")
        elif any(ch in text for ch in "*?["):
            found = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
            if not found:
                raise IngestError(f"no files match {text}")
        else:
            found = [path]
        files.extend(found)
    unique = list(dict.fromkeys(files))
    for f in unique:
        if not f.exists():
            raise IngestError(f"file not found: {f}")
        if f.stat().st_size == 0:
            raise IngestError(f"file is empty: {f}")
        if file_kind(f) is None:
            raise IngestError(f"unsupported file type '{f.suffix}' for {f}: use .csv or .parquet")
    return unique


def file_fingerprint(path: Path) -> str:
    """sha256 of a file's bytes: the same content under another name is the same file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_DELIMITERS = (",", ";", "\t", "|")


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def parse_delimiter(text: str | None) -> str | None:
    """A delimiter as a user types it (``;``, ``tab``, ``\\t``) as the character; None: detect it."""
    if text is None or text == "":
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(text.lower(), text)
    if len(named) != 1 or named in '"\r\n':
        raise IngestError(f"a delimiter is one character, e.g. ';' or tab, got {text!r}")
    return named


def csv_delimiter(file: Path, encoding: str = "utf-8") -> str:
    """The delimiter of a CSV file, from its header line: the most frequent of comma, semicolon, tab
    and pipe outside quotes; a comma when the line holds none of them (a one-column file)."""
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    try:
        with opener(file, "rt", encoding=encoding, errors="replace", newline="") as f:
            line = f.readline()
    except (OSError, LookupError, EOFError):  # unreadable or an unknown encoding: DuckDB says which
        return ","
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def choose_delimiter(files: list[Path], encoding: str, given: str | None) -> str:
    """``given``, else the one delimiter every CSV file in ``files`` uses (one read reads them all)."""
    if given:
        return given
    found = {f: csv_delimiter(f, encoding) for f in files if file_kind(f) == "csv"}
    if len(set(found.values())) > 1:
        uses = ", ".join(f"{f.name}: {_DELIMITER_NAMES[d]}" for f, d in found.items())
        raise IngestError(f"CSV files with different delimiters ({uses}): ingest them separately")
    return next(iter(found.values()), ",")


def file_names(files: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in files)


def csv_or_parquet_reader(files: list[Path], encoding: str, delimiter: str | None = None) -> str:
    """A DuckDB table function reading ``files`` (one kind), CSV fields as text, file name kept;
    the CSV delimiter is ``delimiter``, or the files' own (``csv_delimiter``)."""
    kinds = {file_kind(f) for f in files}
    if len(kinds) > 1:
        raise IngestError(
            f"a mix of CSV and Parquet files ({[f.name for f in files]}): ingest them separately"
        )
    paths = "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"
    if kinds == {"parquet"}:
        return f"read_parquet({paths}, union_by_name = true, filename = '_source_file')"
    delim = choose_delimiter(files, encoding, delimiter)
    return (
        f"read_csv({paths}, header = true, all_varchar = true, delim = {sql_literal(delim)}, quote = '\"', "
        f"escape = '\"', null_padding = true, nullstr = {sql_literal(_NO_NULL)}, "
        f"encoding = {sql_literal(encoding)}, union_by_name = true, filename = '_source_file')"
    )


def read_error(exc: duckdb.Error, what: str, encoding: str, files: Sequence[Path] = ()) -> IngestError:
    """One line saying what is wrong with an unreadable file, and which file it is."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f" (line {line.group(1)})" if line else ""
    file = re.search(r"file\s*=\s*(\S+)", text)
    name = f" {file.group(1)}" if file else (f" {file_names(files)}" if files else "")
    if "Invalid unicode" in text or "encoding" in text.lower() and "unicode" in text.lower():
        return IngestError(
            f"{what} file{name} is not {encoding} encoded{where}: save it as UTF-8, or pass its "
            f"encoding (e.g. encoding='latin-1', --encoding latin-1)"
        )
    if "Expected Number of Columns" in text:
        return IngestError(
            f"{what} file{name} has a row with more fields than its header{where} "
            f"(an unquoted delimiter in a value? the delimiter is the file's most frequent of , ; tab | "
            f"in its header, or --delimiter)"
        )
    if "sniffing" in text or "quote" in text.lower():
        return IngestError(
            f"cannot parse the {what} file{name}: unterminated quote or truncated file? "
            f"({text.splitlines()[0]})"
        )
    return IngestError(f"cannot read the {what} file{name}: {text.splitlines()[0]}")


def file_columns(
    con: duckdb.DuckDBPyConnection, file: Path, what: str, encoding: str, delimiter: str | None = None
) -> list[str]:
    """A file's column names; a header that reads as one column holding another delimiter fails."""
    try:
        reader = csv_or_parquet_reader([file], encoding, delimiter)
        columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()][:-1]
    except duckdb.Error as exc:
        raise read_error(exc, what, encoding, [file]) from exc
    others = [d for d in _DELIMITERS if len(columns) == 1 and d in columns[0]]
    if others:
        used = _DELIMITER_NAMES.get(choose_delimiter([file], encoding, delimiter), repr(delimiter))
        raise IngestError(
            f"{what} file {file} reads as one column {columns[0]!r} with a {used} delimiter: "
            f"pass the file's own, e.g. --delimiter {'tab' if others[0] == chr(9) else repr(others[0])}"
        )
    return columns


def check_sales_header(file: Path, header: list[str]) -> None:
    missing = [c for c in SALES_REQUIRED if c not in header]
    if missing:
        raise IngestError(
            f"sales file {file} lacks required column(s) {missing}; columns found: {header} "
            f"(expected {list(SALES_REQUIRED)} plus optional '{PRICE}', '{PROMO}', '{AVAILABILITY}'; "
            f"map names with --map {DATE}=<name>,...)"
        )


EVENTS_REQUIRED = ("date", "event")
EVENTS_OPTIONAL = ("region",)


def events_column_map(header: list[str]) -> dict[str, str]:
    """An events file's column names to the calendar's (``date``, ``event``, ``region``), matched
    regardless of case and surrounding spaces."""
    names = EVENTS_REQUIRED + EVENTS_OPTIONAL
    return {c.strip(): c.strip().lower() for c in header if c.strip().lower() in names}


def check_events_header(file: Path, header: list[str]) -> None:
    """A one-line error unless the events file ``file`` has the calendar's required columns."""
    found = {c.strip().lower() for c in header}
    missing = [c for c in EVENTS_REQUIRED if c not in found]
    if missing:
        raise IngestError(
            f"events file {file} lacks required column(s) {missing}; columns found: {header} "
            f"(expected {list(EVENTS_REQUIRED)} plus optional {list(EVENTS_OPTIONAL)})"
        )


def missing_attributes(file: Path, header: list[str]) -> str | None:
    """A warning when a products file lacks an attribute of the default hierarchy."""
    missing = [a for a in DEFAULT_NESTED + DEFAULT_CROSSED if a not in {c.lower() for c in header}]
    if not missing:
        return None
    return (
        f"products file {file} has no column(s) {missing} of the default hierarchy "
        f"(--nested {','.join(DEFAULT_NESTED)} --crossed {','.join(DEFAULT_CROSSED)}): forecast with "
        f"--nested/--crossed naming the attributes it has"
    )


def _has_rows(con: duckdb.DuckDBPyConnection, file: Path, what: str, encoding: str, delimiter: str | None):
    try:
        row = con.execute(
            f"select 1 from {csv_or_parquet_reader([file], encoding, delimiter)} limit 1"
        ).fetchone()
    except duckdb.Error as exc:
        raise read_error(exc, what, encoding, [file]) from exc
    if row is None:
        raise IngestError(f"{what} file {file} has a header but no rows")


def check_headers(
    sales_path: FilesSpec,
    products_path: FilesSpec,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    events_path: FilesSpec | None = None,
) -> list[str]:
    """The file-level checks ``ingest`` makes first (files found, readable, required columns present,
    at least one row each), on the headers and first rows alone and without a database: a command
    can answer a bad input in seconds.

    Returns
    -------
    list[str]
        Warnings that do not stop an ingest (a products file without a default attribute column).
    """
    column_map = dict(column_map or {})
    sales_files = resolve_files(sales_path)
    product_files = resolve_files(products_path)
    warnings = []
    with duckdb.connect() as con:
        for f in product_files:
            header = [_rename(c, column_map) for c in file_columns(con, f, "products", encoding, delimiter)]
            if PRODUCT not in header:
                raise no_product_column([f], header)
            warnings += [w for w in [missing_attributes(f, header)] if w]
            _has_rows(con, f, "products", encoding, delimiter)
        for f in sales_files:
            header = [_rename(c, column_map) for c in file_columns(con, f, "sales", encoding, delimiter)]
            check_sales_header(f, header)
            _has_rows(con, f, "sales", encoding, delimiter)
        for f in resolve_files(events_path) if events_path else []:
            check_events_header(f, file_columns(con, f, "events", encoding, delimiter))
            _has_rows(con, f, "events", encoding, delimiter)
    return warnings


def no_product_column(files: Sequence[Path], columns: list[str]) -> IngestError:
    return IngestError(
        f"products file {file_names(files)} has no '{PRODUCT}' column; columns found: {columns} "
        f"(map a name with --map {PRODUCT}=<name>)"
    )


def _rename(column: str, column_map: dict[str, str]) -> str:
    """The contract name of a file's column: mapped, else a contract name matched loosely, else as is."""
    name = column.strip()
    if name in column_map:
        return column_map[name]
    if name.lower() in CONTRACT_COLUMNS:
        return name.lower()
    return name


def read_input(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    table: str | None,
    what: str,
    column_map: dict[str, str],
    encoding: str,
    delimiter: str | None = None,
) -> tuple[dict[Path, list[str]], str]:
    """Check ``files``' headers and build the query reading them (``_row``, ``_source_file``, renamed columns).

    Returns each file's header after renaming, and the ``select`` reading every row; with a ``table``
    name the rows are also read into that temp table. ``_row`` numbers rows in reading order (files
    in order, each file's rows in file order): the same numbers every time the query runs.
    """
    headers: dict[Path, list[str]] = {}
    for f in files:
        renamed = [_rename(c, column_map) for c in file_columns(con, f, what, encoding, delimiter)]
        twice = sorted({c for c in renamed if renamed.count(c) > 1})
        if twice:
            raise IngestError(f"{what} file {f} has column(s) {twice} twice (after the column map)")
        if any(re.fullmatch(r"column\d+", c) for c in renamed):
            raise IngestError(
                f"{what} file {f} has a row with more fields than its header (an unquoted delimiter in a value?)"
            )
        headers[f] = renamed
    try:
        reader = csv_or_parquet_reader(files, encoding, delimiter)
        raw = con.execute(f"describe select * from {reader}").fetchall()
        select = ", ".join(
            f"{quote_ident(r[0])} as {quote_ident(_rename(r[0], column_map))}"
            for r in raw
            if r[0] != "_source_file"
        )
        source = f"select row_number() over () as _row, _source_file, {select} from {reader}"
        if table:
            con.execute(f"create or replace temp table {table} as {source}")
    except duckdb.Error as exc:
        raise read_error(exc, what, encoding, files) from exc
    return headers, source


def raw_sales_view(con: duckdb.DuckDBPyConnection, headers: dict[Path, list[str]], source: str) -> None:
    """Define the temp view ``raw_sales`` that ``sql/ingest/03_stage_sales.sql`` reads.

    ``source`` is ``read_input``'s query over the sales files, ``headers`` their renamed headers.
    The view has fixed columns whatever the files hold: ``_row``, ``_source_file``, ``_padded``,
    then the contract's ``date``, ``product_id``, ``quantity``, ``price``, ``promo``, ``availability``
    as read (NULL where no file has the optional ``price``, ``promo`` or ``availability``). ``_padded`` marks a CSV row DuckDB padded
    because it has fewer fields than its header: its file's last column reads NULL, and only padding
    makes NULLs in CSV text (see ``_NO_NULL``). Parquet nulls are plain missing values.
    """
    cols = {c for h in headers.values() for c in h}
    last = {f: h[-1] for f, h in headers.items() if file_kind(f) == "csv"}
    if len(last) == 1 and len(headers) == 1:
        padded = f"{quote_ident(next(iter(last.values())))} is null"
    elif last:
        cases = " ".join(
            f"when _source_file = {sql_literal(str(f))} then {quote_ident(c)} is null"
            for f, c in last.items()
        )
        padded = f"case {cases} else false end"
    else:
        padded = "false"
    contract = ", ".join(
        f"{quote_ident(c) if c in cols else 'null'} as {quote_ident(c)}"
        for c in (DATE, PRODUCT, QUANTITY, PRICE, PROMO, AVAILABILITY)
    )
    con.execute(
        f"create or replace temp view raw_sales as "
        f"select _row, _source_file, {padded} as _padded, {contract} from ({source})"
    )


def input_fingerprints(
    sales_path: FilesSpec, products_path: FilesSpec, events_path: FilesSpec | None = None
) -> list[tuple[str, str, str]]:
    """``(kind, path, sha256)`` of every input file, sorted: what an ingest of these inputs would read.

    The same content gives the same fingerprints (ingest skips a file it has seen by this hash), so a
    scheduler can tell an unchanged inbox from these alone.
    """
    rows = [("sales", str(f), file_fingerprint(f)) for f in resolve_files(sales_path)]
    rows += [("products", str(f), file_fingerprint(f)) for f in resolve_files(products_path)]
    if events_path:
        rows += [("events", str(f), file_fingerprint(f)) for f in resolve_files(events_path)]
    return sorted(rows)
