"""Tables between std components: Parquet out; CSV, Parquet and JSON lines in.

A table input may be one file or a folder of files (read in name order and stacked). The format
is taken from the file's suffix unless given; a file with no known suffix is sniffed.
"""

from __future__ import annotations

import errno
import os
import re
import warnings
from pathlib import Path

from .errors import ComponentError, out_of_memory, warn

FORMATS = ("auto", "csv", "parquet", "jsonl")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM: look past it
            head = head[3:] + f.read(3)
    if head == b"PAR1":
        return "parquet"
    if head.lstrip()[:1] in (b"{",):
        return "jsonl"
    return "csv"


def table_format(path: Path, fmt: str = "auto") -> str:
    if fmt not in FORMATS:
        raise ComponentError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    return _SUFFIXES.get(path.suffix.lower()) or _sniff(path)


def _read_one(path: Path, fmt: str, param: str):
    import pandas as pd

    kind = table_format(path, fmt)
    try:
        if kind == "parquet":
            _check_unique_names(path, param)
            return pd.read_parquet(path)
        if kind == "jsonl":
            _check_unique_keys(path, param)
            # -sig: a BOM (Notepad, PowerShell write one) was read as a bad first object
            return pd.read_json(path, lines=True, encoding="utf-8-sig")
        sep = _csv_delimiter(path)
        with warnings.catch_warnings():
            # index_col=False: a first row longer than the header made pandas take the first
            # column as the index, which write_table drops, every value shifted one column left.
            # It still drops a longer row's extra values, with only this warning: refuse instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                frame = pd.read_csv(path, sep=sep, index_col=False)
            except pd.errors.ParserWarning:
                raise _long_row(path, sep, param) from None
            except pd.errors.ParserError as err:
                if _LONG_ROW.search(str(err)):  # a later row longer than the first ones
                    raise _long_row(path, sep, param) from None
                raise
        return _wide_integers(_decimal_commas(frame) if sep == ";" else frame, path, param)
    except UnicodeDecodeError as err:
        raise ComponentError(
            f"{param}: {path} is not UTF-8 text (it holds the byte {err.object[err.start : err.start + 1]!r}); "
            "another encoding (Latin-1, Windows-1252 ...) cannot be told apart safely",
            "save the file as UTF-8 (a spreadsheet's 'CSV UTF-8'), or convert it: iconv -f latin1 -t utf-8",
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as err:
        if isinstance(err, OSError) and err.errno == errno.ENOMEM:  # pandas' CSV reader: not the file's fault
            raise out_of_memory(f"{param}: {path}") from None
        raise ComponentError(
            f"{param}: {path} could not be read as {kind}: {err}",
            "give the right `format`, or check the file",
        ) from None


_LONG_ROW = re.compile(r"Expected \d+ fields in line \d+, saw \d+")


def _wide_integers(frame, path: Path, param: str):
    """A CSV column of whole numbers beyond 64 bits (a 20-digit id) is read by pandas as Python
    ints, which no Parquet type holds: every std step writing it failed with a traceback. It is
    read as text instead, every digit kept, with a warning naming it."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or not any(isinstance(v, int) and not isinstance(v, bool) for v in column):
            continue
        frame[name] = [None if v is None or v != v else str(v) for v in column]  # (v != v: NaN)
        warn(
            "",
            f"{param}: {path}: column {str(name)!r} holds whole numbers beyond 64 bits; "
            "it is read as text, every digit kept",
        )
    return frame


def _long_row(path: Path, sep: str, param: str) -> ComponentError:
    """The error for a CSV row with more values than the header has names, at its line (read
    again only on this path: pandas does not say which row)."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f, delimiter=sep)
        header = next(rows, [])
        for row in rows:
            if len(row) > len(header) and any(v.strip() for v in row[len(header) :]):
                where, count = f"{path}:{rows.line_num}", len(row)
                break
        else:
            where, count = str(path), len(header) + 1
    return ComponentError(
        f"{param}: {where}: a row has {count} values but the header names {len(header)} columns",
        "name every column in the header line, or remove the extra values (a stray delimiter)",
    )


_OTHER_DELIMITERS = (";", "\t", "|")


def _csv_delimiter(path: Path) -> str:
    """`,` unless the header line holds no comma but `;`, a tab or `|` (a spreadsheet in a
    locale whose decimal mark is a comma writes `;`): read with the comma, such a file would
    be one column of whole lines. Quoted names are left out of the count: `"x,y";z` is a `;`
    header whose first name holds a comma."""
    with open(path, "rb") as f:
        header = re.sub(rb'"[^"]*"', b"", f.readline(1 << 16))  # ("" inside a name: two quoted runs)
    if b"," in header:
        return ","
    counts = {d: header.count(d.encode()) for d in _OTHER_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# No leading zero before another digit: a spreadsheet writes 1,5 and 0,5, never 01,5; a column
# such as 01,02 holds codes (a date's day and month, an article number) and stays text.
_DECIMAL_COMMA = r"[+-]?(0|[1-9]\d*)(,\d+)?"


def _decimal_commas(frame):
    """A `;` CSV comes from a locale whose decimal mark is the comma: a text column whose every
    value is a number written so ("1,5"; at least one with the comma) is read as those numbers,
    not left as text that no model or scaling takes."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        present = column.dropna()
        if not len(present) or not all(isinstance(v, str) for v in present):
            continue
        text = present.astype(str).str.strip()
        if text.str.fullmatch(_DECIMAL_COMMA).all() and text.str.contains(",", regex=False).any():
            frame[name] = pd.to_numeric(column.str.strip().str.replace(",", ".", regex=False)).astype("float64")
    return frame


def _check_unique_names(path: Path, param: str) -> None:
    """Parquet may hold two columns of one name; pandas cannot read them by name: say which."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # not Parquet after all: read_parquet's own error says so
        return
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ComponentError(
            f"{param}: {path} has more than one column named {', '.join(map(repr, twice))}",
            "give each column its own name where the file is written",
        )


class _TwiceKey(Exception):
    pass


def _once_each(pairs: list) -> None:
    if len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
        seen: set = set()
        raise _TwiceKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    # None: only the keys are checked here (pandas reads the values), and building no dict is faster


def _check_unique_keys(path: Path, param: str) -> None:
    """A JSON lines record that gives one key twice kept its last value, the other dropped
    unseen (a writer's bug, or two sources merged): refuse it at its line. A line that is no
    JSON is left to pandas' reading, which says so."""
    import json

    decode = json.JSONDecoder(object_pairs_hook=_once_each).decode  # one decoder: json.loads(hook=) makes one a line
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            try:
                if line.strip():
                    decode(line)
            except _TwiceKey as twice:
                raise ComponentError(
                    f"{param}: {path}:{number}: a record gives the key {twice.args[0]!r} twice "
                    "(which value counts cannot be told)",
                    "give each key once in a record, where the file is written",
                ) from None
            except ValueError:
                return


def _check_same_columns(files: list[Path], frames: list, param: str) -> None:
    """Stacking files with other columns would fill the gaps with missing values unseen: refuse."""
    first = [str(c) for c in frames[0].columns]
    for path, frame in zip(files[1:], frames[1:]):
        cols = [str(c) for c in frame.columns]
        if set(cols) != set(first):
            extra = sorted(set(cols) - set(first))
            lacking = sorted(set(first) - set(cols))
            what = "; ".join(
                [f"it adds {', '.join(extra)}"] * bool(extra) + [f"it lacks {', '.join(lacking)}"] * bool(lacking)
            )
            raise ComponentError(
                f"{param}: {path} has other columns than {files[0]} ({what})",
                "give the folder files of one table only",
            )


def read_table(path: str | os.PathLike, param: str = "data", fmt: str = "auto"):
    """The table at `path` (a file, or a folder of table files) as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*")
            if f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(p).parts)  # .DS_Store, .git/...
            and (fmt != "auto" or f.suffix.lower() in _SUFFIXES)
        )
        if not files:
            raise ComponentError(
                f"{param}: the folder {p} holds no table files",
                "put .csv, .parquet or .jsonl files in it",
            )
        frames = [_read_one(f, fmt, param) for f in files]
        _check_same_columns(files, frames, param)
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if not p.exists():
        raise ComponentError(f"{param}: {p} does not exist")
    return _read_one(p, fmt, param)


def _unwritable(frame, err: Exception) -> ComponentError:
    """Name the column Parquet cannot hold: one mixing types, as JSON lines may."""
    import pyarrow as pa

    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (TypeError, ValueError, pa.ArrowException):
            kinds = sorted({type(v).__name__ for v in frame[name].dropna()})
            return ComponentError(
                f"column {name!r} holds values of several types ({', '.join(kinds)}) and cannot be written as Parquet",
                "give the column one type in the input (numbers or text, not both)",
            )
    return ComponentError(f"the table cannot be written as Parquet: {err}")


JSONL_CHUNK_ROWS = 50_000


def _write_jsonl(frame, path: Path) -> None:
    """JSON lines, a chunk of rows at a time: pandas builds the whole file's text in memory
    first, several times the table's own size (a table that fit failed to write, with a
    traceback). Each chunk's text is what pandas writes for those rows."""
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, max(len(frame), 1), JSONL_CHUNK_ROWS):  # (no rows: what pandas writes for none)
            text = frame.iloc[start : start + JSONL_CHUNK_ROWS].to_json(
                orient="records",
                lines=True,
                date_format="iso",  # readable, not epoch numbers
            )
            f.write(text if text.endswith("\n") else text + "\n")


def write_table(frame, path: str | os.PathLike, fmt: str = "parquet") -> None:
    """Write `frame` to `path` (Parquet unless asked otherwise), creating its folder."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if fmt == "parquet":
        try:
            frame.to_parquet(p, index=False)
        except (TypeError, ValueError) as err:  # pyarrow's errors subclass these
            p.unlink(missing_ok=True)
            raise _unwritable(frame, err) from None
    elif fmt == "csv":
        frame.to_csv(p, index=False)
    elif fmt == "jsonl":
        _write_jsonl(frame, p)
    else:
        raise ComponentError(f"format: {fmt!r} is not one of csv, parquet, jsonl")
