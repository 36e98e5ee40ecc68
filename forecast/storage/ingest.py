"""Ingest: products and sales files into DuckDB, every input row loaded or rejected with a reason.

Validation runs in SQL (DuckDB's readers, no Python row loops); a file already ingested (by its
content's hash) is skipped, and a corrected row keeps its old value in ``sales_history``."""

from __future__ import annotations

import glob
import gzip
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from forecast.contract.schema import (
    DATE,
    DEFAULT_CROSSED,
    DEFAULT_NESTED,
    PRICE,
    PRODUCT,
    PROMO,
    QUANTITY,
    SALES_REQUIRED,
)
from forecast.storage.connection import (
    new_id,
    quote_ident,
    sql_literal,
    table_columns,
    utc_now,
)


class IngestError(ValueError):
    """The input cannot be loaded at all (a file-level problem, not a bad row)."""


@dataclass
class IngestSummary:
    """What one ingest did; ``rows_read == rows_loaded + rows_rejected`` always holds.

    ``products_read`` is 0 when every products file was already ingested (nothing to reload);
    ``rows_replaced`` counts loaded rows that corrected a different earlier value (the old value
    went to ``sales_history``); ``files_skipped`` counts input files ingested before.
    """

    ingest_id: str
    already_ingested: bool
    products_read: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    reasons: dict[str, int]
    rows_replaced: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    warnings: list[str] = field(default_factory=list)  # e.g. a default attribute column is missing

    def __str__(self) -> str:
        if self.already_ingested:
            return f"already ingested as {self.ingest_id}: nothing changed"
        products = f"{self.products_read} products" if self.products_read else "products file already loaded"
        text = (
            f"ingest {self.ingest_id}: {products}; sales rows read "
            f"{self.rows_read} = loaded {self.rows_loaded} + rejected {self.rows_rejected}"
        )
        if self.rows_replaced:
            text += f"; {self.rows_replaced} loaded rows corrected earlier values (kept in sales_history)"
        if self.files_skipped:
            text += f"; {self.files_skipped} file(s) already ingested, skipped"
        for reason, n in sorted(self.reasons.items(), key=lambda kv: -kv[1]):
            text += f"\n  rejected {n}: {reason}"
        return text


FilesSpec = str | Path | Sequence[str | Path]


# Marks a CSV field as NULL; no real file holds it, so an empty field reads as '' and only the
# fields DuckDB pads onto a short (truncated) row read as NULL.
_NO_NULL = "\x01<none>\x01"


_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")


_PARQUET_SUFFIXES = (".parquet", ".pq")


_CONTRACT = (DATE, PRODUCT, QUANTITY, PRICE, PROMO)


_TRUNCATED = "truncated row: fewer fields than the header"


def _file_kind(path: Path) -> str | None:
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
            found = sorted(f for f in path.iterdir() if f.is_file() and _file_kind(f))
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
        if _file_kind(f) is None:
            raise IngestError(f"unsupported file type '{f.suffix}' for {f}: use .csv or .parquet")
    return unique


def _fingerprint(path: Path) -> str:
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


def _delimiter(files: list[Path], encoding: str, given: str | None) -> str:
    """``given``, else the one delimiter every CSV file in ``files`` uses (one read reads them all)."""
    if given:
        return given
    found = {f: csv_delimiter(f, encoding) for f in files if _file_kind(f) == "csv"}
    if len(set(found.values())) > 1:
        uses = ", ".join(f"{f.name}: {_DELIMITER_NAMES[d]}" for f, d in found.items())
        raise IngestError(f"CSV files with different delimiters ({uses}): ingest them separately")
    return next(iter(found.values()), ",")


def _names(files: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in files)


def csv_or_parquet_reader(files: list[Path], encoding: str, delimiter: str | None = None) -> str:
    """A DuckDB table function reading ``files`` (one kind), CSV fields as text, file name kept;
    the CSV delimiter is ``delimiter``, or the files' own (``csv_delimiter``)."""
    kinds = {_file_kind(f) for f in files}
    if len(kinds) > 1:
        raise IngestError(
            f"a mix of CSV and Parquet files ({[f.name for f in files]}): ingest them separately"
        )
    paths = "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"
    if kinds == {"parquet"}:
        return f"read_parquet({paths}, union_by_name = true, filename = '_source_file')"
    delim = _delimiter(files, encoding, delimiter)
    return (
        f"read_csv({paths}, header = true, all_varchar = true, delim = {sql_literal(delim)}, quote = '\"', "
        f"escape = '\"', null_padding = true, nullstr = {sql_literal(_NO_NULL)}, "
        f"encoding = {sql_literal(encoding)}, union_by_name = true, filename = '_source_file')"
    )


def _read_error(exc: duckdb.Error, what: str, encoding: str, files: Sequence[Path] = ()) -> IngestError:
    """One line saying what is wrong with an unreadable file, and which file it is."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f" (line {line.group(1)})" if line else ""
    file = re.search(r"file\s*=\s*(\S+)", text)
    name = f" {file.group(1)}" if file else (f" {_names(files)}" if files else "")
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


def _file_columns(
    con: duckdb.DuckDBPyConnection, file: Path, what: str, encoding: str, delimiter: str | None = None
) -> list[str]:
    """A file's column names; a header that reads as one column holding another delimiter fails."""
    try:
        reader = csv_or_parquet_reader([file], encoding, delimiter)
        columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()][:-1]
    except duckdb.Error as exc:
        raise _read_error(exc, what, encoding, [file]) from exc
    others = [d for d in _DELIMITERS if len(columns) == 1 and d in columns[0]]
    if others:
        used = _DELIMITER_NAMES.get(_delimiter([file], encoding, delimiter), repr(delimiter))
        raise IngestError(
            f"{what} file {file} reads as one column {columns[0]!r} with a {used} delimiter: "
            f"pass the file's own, e.g. --delimiter {'tab' if others[0] == chr(9) else repr(others[0])}"
        )
    return columns


def _check_sales_header(file: Path, header: list[str]) -> None:
    missing = [c for c in SALES_REQUIRED if c not in header]
    if missing:
        raise IngestError(
            f"sales file {file} lacks required column(s) {missing}; columns found: {header} "
            f"(expected {list(SALES_REQUIRED)} plus optional '{PRICE}', '{PROMO}'; "
            f"map names with --map {DATE}=<name>,...)"
        )


def _missing_attributes(file: Path, header: list[str]) -> str | None:
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
        raise _read_error(exc, what, encoding, [file]) from exc
    if row is None:
        raise IngestError(f"{what} file {file} has a header but no rows")


def check_headers(
    sales_path: FilesSpec,
    products_path: FilesSpec,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
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
            header = [_rename(c, column_map) for c in _file_columns(con, f, "products", encoding, delimiter)]
            if PRODUCT not in header:
                raise _no_product_column([f], header)
            warnings += [w for w in [_missing_attributes(f, header)] if w]
            _has_rows(con, f, "products", encoding, delimiter)
        for f in sales_files:
            header = [_rename(c, column_map) for c in _file_columns(con, f, "sales", encoding, delimiter)]
            _check_sales_header(f, header)
            _has_rows(con, f, "sales", encoding, delimiter)
    return warnings


def _no_product_column(files: Sequence[Path], columns: list[str]) -> IngestError:
    return IngestError(
        f"products file {_names(files)} has no '{PRODUCT}' column; columns found: {columns} "
        f"(map a name with --map {PRODUCT}=<name>)"
    )


def _rename(column: str, column_map: dict[str, str]) -> str:
    """The contract name of a file's column: mapped, else a contract name matched loosely, else as is."""
    name = column.strip()
    if name in column_map:
        return column_map[name]
    if name.lower() in _CONTRACT:
        return name.lower()
    return name


def _read_input(
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
        renamed = [_rename(c, column_map) for c in _file_columns(con, f, what, encoding, delimiter)]
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
        raise _read_error(exc, what, encoding, files) from exc
    return headers, source


def ingest(
    con: duckdb.DuckDBPyConnection,
    sales_path: FilesSpec,
    products_path: FilesSpec,
    *,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> IngestSummary:
    """Load products and sales files; each sales row lands in ``sales`` or ``rejected_sales``.

    Parameters
    ----------
    con
        A writable connection.
    sales_path, products_path
        One file, a glob, a folder, or a list of those; CSV (header row, quoted with ``"``) or Parquet.
    column_map
        The files' column names to the contract's (``{"day": "date", "sku": "product_id"}``);
        applies to both inputs. Contract names also match regardless of case and surrounding spaces.
    encoding
        Text encoding of CSV files (``utf-8``, ``latin-1``, ``utf-16``).
    delimiter
        The CSV field delimiter; None: each input's own, the most frequent of comma, semicolon, tab
        and pipe in its header (``csv_delimiter``). Where it is not a comma, numbers may use a
        decimal comma (``1,5``), as spreadsheets that write semicolons do.

    Returns
    -------
    IngestSummary
        Rows read, loaded and rejected (with reasons); ``rows_read == rows_loaded + rows_rejected``.

    Notes
    -----
    One transaction: it lands whole or not at all. Each file is fingerprinted by its bytes in
    ``ingest_files``: a file ingested before is skipped, so the same files twice change nothing and a
    folder that gains a file loads only the new file. A row for a (date, product) already loaded with
    different values replaces it; the replaced row goes to ``sales_history``.
    """
    column_map = dict(column_map or {})
    bad_targets = sorted(set(column_map.values()) - set(_CONTRACT))
    sales_files, product_files = resolve_files(sales_path), resolve_files(products_path)
    fingerprints = {f: _fingerprint(f) for f in sales_files + product_files}
    known = dict(con.execute("select kind || ':' || fingerprint, ingest_id from ingest_files").fetchall())
    new_sales = [f for f in sales_files if f"sales:{fingerprints[f]}" not in known]
    new_products = [f for f in product_files if f"products:{fingerprints[f]}" not in known]
    new_sales = list({fingerprints[f]: f for f in reversed(new_sales)}.values())[::-1]
    new_products = list({fingerprints[f]: f for f in reversed(new_products)}.values())[::-1]
    if not new_sales and not new_products:
        last = max(
            (known[f"sales:{fingerprints[f]}"] for f in sales_files),
            key=lambda i: con.execute(
                "select ingested_at from ingest_log where ingest_id = ?", [i]
            ).fetchone(),
        )
        done = con.execute(
            "select ingest_id, products_read, rows_read, rows_loaded, rows_rejected "
            "from ingest_log where ingest_id = ?",
            [last],
        ).fetchone()
        return IngestSummary(done[0], True, done[1], done[2], done[3], done[4], {})

    ingest_id = new_id()
    con.execute("begin transaction")
    try:
        headers: dict[Path, list[str]] = {}
        sales_source = ""
        if new_products:
            headers |= _read_input(
                con, new_products, "raw_products", "products", column_map, encoding, delimiter
            )[0]
        if new_sales:
            found, sales_source = _read_input(con, new_sales, None, "sales", column_map, encoding, delimiter)
            headers |= found
        seen = {
            c.strip()
            for f in sales_files + product_files
            for c in _file_columns(con, f, "input", encoding, delimiter)
        }
        unknown = sorted(set(column_map) - seen)
        if unknown or bad_targets:
            raise IngestError(
                f"column map names column(s) {unknown} that no input file has"
                if unknown
                else f"column map targets {bad_targets} are not contract columns {list(_CONTRACT)}"
            )
        products_read = _load_products(con, new_products) if new_products else 0
        if new_sales:
            csv_files = [f for f in new_sales if _file_kind(f) == "csv"]
            decimal_comma = bool(csv_files) and _delimiter(csv_files, encoding, delimiter) != ","
            counts = _load_sales(
                con, ingest_id, {f: headers[f] for f in new_sales}, sales_source, encoding, decimal_comma
            )
        else:
            counts = {"read": 0, "loaded": 0, "rejected": 0, "replaced": 0, "per_file": {}}
        for kind, files in (("products", new_products), ("sales", new_sales)):
            for f in files:
                con.execute(
                    "insert into ingest_files values (?, ?, ?, ?, ?, ?)",
                    [
                        ingest_id,
                        kind,
                        str(f),
                        fingerprints[f],
                        f.stat().st_size,
                        counts["per_file"].get(str(f), 0) if kind == "sales" else products_read,
                    ],
                )
        con.execute(
            "insert into ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                utc_now(),
                ", ".join(str(f) for f in new_sales) or "(none new)",
                ", ".join(str(f) for f in new_products) or "(none new)",
                hashlib.sha256(
                    "".join(fingerprints[f] for f in new_sales + new_products).encode()
                ).hexdigest(),
                products_read,
                counts["read"],
                counts["loaded"],
                counts["rejected"],
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    reasons = dict(
        con.execute(
            "select reason, count(*) from rejected_sales where ingest_id = ? group by reason",
            [ingest_id],
        ).fetchall()
    )
    warnings = [w for f in new_products if (w := _missing_attributes(f, headers[f]))]
    return IngestSummary(
        ingest_id,
        False,
        products_read,
        counts["read"],
        counts["loaded"],
        counts["rejected"],
        reasons,
        rows_replaced=counts["replaced"],
        files_loaded=len(new_sales) + len(new_products),
        files_skipped=len(sales_files) + len(product_files) - len(new_sales) - len(new_products),
        warnings=warnings,
    )


def _load_products(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> int:
    cols = [c for c in table_columns(con, "raw_products") if c not in ("_row", "_source_file")]
    if PRODUCT not in cols:
        raise _no_product_column(files, cols)
    attrs = [c for c in cols if c != PRODUCT]
    n = con.execute("select count(*) from raw_products").fetchone()[0]
    if n == 0:
        raise IngestError(f"products file {_names(files)} has a header but no rows")
    # Empty CSV fields read as '' (see _NO_NULL): an empty attribute is unknown, like a Parquet null.
    clean = ", ".join(
        [f"trim(cast({PRODUCT} as varchar)) as {PRODUCT}"]
        + [f"nullif(trim(cast({quote_ident(a)} as varchar)), '') as {quote_ident(a)}" for a in attrs]
    )
    con.execute(f"create or replace temp table clean_products as select {clean} from raw_products")
    blank = con.execute(f"select count(*) from clean_products where coalesce({PRODUCT}, '') = ''").fetchone()[
        0
    ]
    if blank:
        raise IngestError(f"products file {_names(files)} has {blank} row(s) with an empty {PRODUCT}")
    conflicts = con.execute(
        f"select {PRODUCT} from clean_products group by {PRODUCT} "
        f"having count(distinct ({', '.join(quote_ident(a) for a in attrs) or 'null'})) > 1 "
        f"order by {PRODUCT} limit 3"
    ).fetchall()
    if conflicts:
        raise IngestError(
            f"products file {_names(files)} gives conflicting attributes for {[c[0] for c in conflicts]}"
        )
    existing = {c.lower() for c in table_columns(con, "products")}  # DuckDB names ignore case
    for attr in attrs:
        if attr.lower() not in existing:
            con.execute(f"alter table products add column {quote_ident(attr)} varchar")
    target = ", ".join([PRODUCT] + [quote_ident(a) for a in attrs])
    con.execute(
        f"insert or replace into products ({target}) "
        f"select distinct on ({PRODUCT}) {target} from clean_products"
    )
    return n


def _load_sales(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    headers: dict[Path, list[str]],
    source: str,
    encoding: str,
    decimal_comma: bool = False,
) -> dict[str, Any]:
    """Validate the rows of ``source`` (see ``_read_input``) and load them into ``sales`` or ``rejected_sales``.

    The files are read once, straight into ``checked_sales``: typed values and each row's first failed
    check, the raw text kept only for rejected rows. Repeated (date, product) keys among valid rows are
    found by sorting one integer key (product rowid, day), not by a hash of every key; the few rows
    they reject get their raw text from a second read of the files (only when there are any).
    """
    for file, header in headers.items():
        _check_sales_header(file, header)
    cols = {c for h in headers.values() for c in h}
    price = PRICE if PRICE in cols else "null"
    promo = PROMO if PROMO in cols else "null"
    # A CSV row DuckDB padded (too few fields) has NULL in its file's last column: only padding
    # makes NULLs in CSV text (see _NO_NULL). Parquet nulls are plain missing values.
    last = {f: h[-1] for f, h in headers.items() if _file_kind(f) == "csv"}
    if len(last) == 1 and len(headers) == 1:
        truncated = f"{quote_ident(next(iter(last.values())))} is null"
    elif last:
        cases = " ".join(
            f"when _source_file = {sql_literal(str(f))} then {quote_ident(c)} is null"
            for f, c in last.items()
        )
        truncated = f"case {cases} else false end"
    else:
        truncated = "false"
    raw = {
        "raw_date": f"cast({DATE} as varchar)",
        "raw_product": f"cast({PRODUCT} as varchar)",
        "raw_quantity": f"cast({QUANTITY} as varchar)",
        "raw_price": f"cast({price} as varchar)",
        "raw_promo": f"cast({promo} as varchar)",
    }
    raw_select = ", ".join(f"{expr} as {name}" for name, expr in raw.items())

    def number(raw_value: str) -> str:  # "1,5" is 1.5 in a file whose delimiter is not a comma
        return f"replace(trim({raw_value}), ',', '.')" if decimal_comma else f"trim({raw_value})"

    kept_raw = ", ".join(f"case when reason is not null then {name} end as {name}" for name in raw)
    # Casts skip ASCII whitespace themselves; trim (which also strips Unicode spaces) runs only when
    # the plain cast fails, so the values are those of try_cast(trim(x)) at a fraction of the cost.
    # One reason per row: the first check it fails, in this order.
    # products numbered for the key (a rowid can exceed 32 bits inside a transaction)
    con.execute(
        "create or replace temp table product_keys as select product_id, row_number() over () as n from products"
    )
    try:
        con.execute(
            f"""
            create or replace temp table checked_sales as
            with source as (
                select _row, _source_file, {truncated} as truncated, {raw_select}
                from ({source})
            ),

            typed as (
                select
                    *,
                    coalesce(try_cast(raw_date as date), try_cast(trim(raw_date) as date)) as date,
                    trim(raw_product) as product_id,
                    coalesce(
                        try_cast(raw_quantity as double), try_cast({number("raw_quantity")} as double)
                    ) as q,
                    coalesce(try_cast(raw_price as double), try_cast({number("raw_price")} as double)) as price,
                    case raw_promo when '1' then true when '0' then false else
                        case lower(trim(raw_promo))
                            when '1' then true when 'true' then true when 'yes' then true
                            when '0' then false when 'false' then false when 'no' then false
                            when '' then null end
                    end as promo
                from source
            ),

            reasoned as (
                select
                    t.*,
                    case
                        when t.truncated then '{_TRUNCATED}'
                        when t.date is null then
                            case when t.raw_date is null or trim(t.raw_date) = '' then 'missing date'
                                else 'unparsable date' end
                        when t.product_id is null or t.product_id = '' then 'missing product_id'
                        when t.q is null or isnan(t.q) or isinf(t.q) then
                            case when t.raw_quantity is null or trim(t.raw_quantity) = '' then 'missing quantity'
                                else 'non-numeric quantity' end
                        when t.q < 0 then 'negative quantity'
                        when t.q <> floor(t.q) then 'fractional quantity'
                        when t.price is null and t.raw_price is not null and trim(t.raw_price) <> ''
                            then 'non-numeric price'
                        when t.price <= 0 or isnan(t.price) or isinf(t.price) then 'non-positive price'
                        when t.promo is null and t.raw_promo is not null and trim(t.raw_promo) <> ''
                            then 'unparsable promo (expected 0/1/true/false)'
                        when p.product_id is null then 'product not in the products file'
                    end as reason,
                    -- one integer per (date, product): the product's number and the day, 32 bits each
                    (p.n << 32) + (t.date - date '1970-01-01' + 2147483648) as _key
                from typed as t
                left join product_keys as p on p.product_id = t.product_id
            )

            select
                _row,
                _source_file,
                _key,
                date,
                product_id,
                case when reason is null then cast(q as bigint) end as quantity,
                price,
                coalesce(promo, false) as promo,
                reason,
                {kept_raw}
            from reasoned
            """
        )
    except duckdb.Error as exc:
        raise _read_error(exc, "sales", encoding, list(headers)) from exc
    con.execute(
        """
        create or replace temp table sales_file_rows as
        select _source_file, count(*) as rows_read, min(_row) - 1 as row_offset
        from checked_sales
        group by _source_file
        """
    )
    per_file = dict(con.execute("select _source_file, rows_read from sales_file_rows").fetchall())
    read = sum(per_file.values())
    if read == 0:
        raise IngestError(f"sales file {_names(list(headers))} has a header but no rows")
    # per repeated (date, product) among valid rows: do the quantities disagree, which row came first
    con.execute(
        """
        create or replace temp table duplicate_keys as
        with valid as (
            select _key, lag(_key) over (order by _key) as previous
            from checked_sales
            where reason is null
        ),

        repeated as (
            select distinct _key from valid where _key = previous
        )

        select _key, min(quantity) <> max(quantity) as conflicting, min(_row) as first_row
        from checked_sales
        where reason is null and _key in (select _key from repeated)
        group by _key
        """
    )
    duplicates = con.execute("select count(*) from duplicate_keys").fetchone()[0] > 0
    accepted = """
        select c.date, c.product_id, c.quantity, c.price, c.promo
        from checked_sales as c
        left join duplicate_keys as k on c._key = k._key
        where c.reason is null and (k._key is null or (not k.conflicting and c._row = k.first_row))
    """
    had_sales = con.execute("select count(*) from (select 1 from sales limit 1)").fetchone()[0] > 0
    replaced = 0
    if had_sales:
        now = utc_now()
        con.execute(
            f"""
            create or replace temp table replaced_sales as
            select s.*
            from sales as s
            inner join ({accepted}) as n using (date, product_id)
            where s.quantity <> n.quantity or s.price is distinct from n.price or s.promo is distinct from n.promo
            """
        )
        replaced = con.execute("select count(*) from replaced_sales").fetchone()[0]
        if replaced:
            con.execute(
                """
                insert into sales_history
                select date, product_id, quantity, price, promo, ingest_id, ?, ? from replaced_sales
                """,
                [ingest_id, now],
            )
            con.execute(
                f"""
                update sales set quantity = n.quantity, price = n.price, promo = n.promo, ingest_id = ?
                from ({accepted}) as n, replaced_sales as r
                where sales.date = n.date and sales.product_id = n.product_id
                    and r.date = n.date and r.product_id = n.product_id
                """,
                [ingest_id],
            )
    new_only = (
        "where not exists (select 1 from sales as s where s.date = n.date and s.product_id = n.product_id)"
        if had_sales
        else ""
    )
    con.execute(f"insert into sales select n.*, ? from ({accepted}) as n {new_only}", [ingest_id])
    # Rows a repeated key rejects passed every check, so checked_sales kept no raw text for them:
    # read it again for just those rows.
    if duplicates:
        try:
            con.execute(
                f"""
                create or replace temp table duplicate_rows as
                with rejected as (
                    select
                        c._row,
                        case when k.conflicting then 'same date and product twice with different quantities'
                            else 'duplicate row' end as reason
                    from checked_sales as c
                    inner join duplicate_keys as k on c._key = k._key
                    where c.reason is null and (k.conflicting or c._row <> k.first_row)
                )

                select s._row, s._source_file, {", ".join(raw)}, r.reason
                from (select _row, _source_file, {raw_select} from ({source})) as s
                inner join rejected as r using (_row)
                """
            )
        except duckdb.Error as exc:
            raise _read_error(exc, "sales", encoding, list(headers)) from exc
        duplicate_rows = f"union all select _row, _source_file, {', '.join(raw)}, reason from duplicate_rows"
    else:
        duplicate_rows = ""
    rejected = con.execute(
        f"""
        insert into rejected_sales (ingest_id, source_row, date, product_id, quantity, price, promo, reason,
            source_file)
        with rejected as (
            select _row, _source_file, {", ".join(raw)}, reason
            from checked_sales
            where reason is not null
            {duplicate_rows}
        )

        select ?, r._row - f.row_offset, {", ".join(f"r.{name}" for name in raw)}, r.reason, r._source_file
        from rejected as r
        inner join sales_file_rows as f using (_source_file)
        order by r._row
        """,
        [ingest_id],
    ).fetchone()[0]
    return {
        "read": read,
        "loaded": read - rejected,
        "rejected": rejected,
        "replaced": replaced,
        "per_file": per_file,
    }


def input_fingerprints(sales_path: FilesSpec, products_path: FilesSpec) -> list[tuple[str, str, str]]:
    """``(kind, path, sha256)`` of every input file, sorted: what an ingest of these inputs would read.

    The same content gives the same fingerprints (ingest skips a file it has seen by this hash), so a
    scheduler can tell an unchanged inbox from these alone.
    """
    rows = [("sales", str(f), _fingerprint(f)) for f in resolve_files(sales_path)]
    rows += [("products", str(f), _fingerprint(f)) for f in resolve_files(products_path)]
    return sorted(rows)
