"""Readers for the data files: GLUE TSV, SuperGLUE JSONL, any CSV/TSV/JSON(L).

Every problem is a `DataError` (a ValueError) whose message names the file,
the line where it applies, what was expected and how to fix it.
"""

from __future__ import annotations

import csv
import json
import os
import sys


class DataError(ValueError):
    """Bad input data: a missing or malformed file, an unknown column, task or
    label, an empty split. The message names the problem and the fix."""


#: file extension -> format name
FORMATS = {
    ".tsv": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "json",
}


def file_format(path):
    """The format of `path` by its extension, or a DataError."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FORMATS:
        raise DataError(
            f"{path}: unknown data file type {ext or '(no extension)'!r}. "
            "Use a .tsv (GLUE, tab-separated with a header row), .csv, "
            ".jsonl (one JSON object per line, as SuperGLUE) or .json file."
        )
    return FORMATS[ext]


def check_exists(path, hint=""):
    if not os.path.isfile(path):
        where = "is a directory, not a file" if os.path.isdir(path) else "not found"
        raise DataError(f"data file {where}: {path}. {hint}".rstrip())


def _open(path):
    # utf-8-sig: a byte-order mark (Excel's CSV export) is not part of a name
    return open(path, encoding="utf-8-sig", newline="")


def _decode_error(path, error):
    return DataError(
        f"{path}: not UTF-8 text ({error}). Save the file as UTF-8 "
        "(the official GLUE/SuperGLUE files are)."
    )


def _raise_csv_limit():
    # Official files have long fields (e.g. MultiRC/ReCoRD passages, QQP).
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def read_delimited(path, delimiter="\t", header=True, quote=False, hint=""):
    """Rows of a delimited file as (columns, [(line_number, {column: value})]).

    `quote=False` reads like the GLUE files: csv.QUOTE_NONE, so quote characters
    are kept as text. `header=False` names the columns 0, 1, 2, ... Rows whose
    number of fields differs from the header are an error (file and line named);
    blank lines are skipped.
    """
    check_exists(path, hint)
    _raise_csv_limit()
    kind = "tab" if delimiter == "\t" else "comma"
    rows = []
    columns = None
    try:
        with _open(path) as f:
            reader = csv.reader(
                f,
                delimiter=delimiter,
                quoting=csv.QUOTE_NONE if not quote else csv.QUOTE_MINIMAL,
            )
            line = 0
            for fields in reader:
                first_line = line + 1
                line = reader.line_num
                if not fields or fields == [""]:
                    continue
                if columns is None:
                    if header:
                        columns = [c.strip() for c in fields]
                        if len(set(columns)) != len(columns):
                            raise DataError(
                                f"{path}, line {first_line}: the header row has "
                                f"repeated column names {columns}. Give every "
                                "column a distinct name."
                            )
                        continue
                    columns = list(range(len(fields)))
                if len(fields) != len(columns):
                    names = (
                        f"{len(columns)} {kind}-separated fields ({columns})"
                        if header
                        else f"{len(columns)} {kind}-separated fields like line 1"
                    )
                    raise DataError(
                        f"{path}, line {first_line}: malformed row: expected "
                        f"{names}, found {len(fields)}. Fix or remove this line"
                        + (
                            "; a TSV field cannot contain a tab or newline."
                            if delimiter == "\t"
                            else "; quote fields that contain commas or newlines."
                        )
                    )
                rows.append((first_line, dict(zip(columns, fields))))
    except UnicodeDecodeError as error:
        raise _decode_error(path, error) from None
    except csv.Error as error:
        raise DataError(
            f"{path}, line {line + 1}: malformed {kind}-separated text ({error})."
        ) from None
    if columns is None:
        raise DataError(
            f"{path}: the file is empty"
            + (" (not even a header row)." if header else ".")
            + " Point to the right file or fill it."
        )
    return list(columns), rows


def read_jsonl(path, hint=""):
    """Rows of a JSON-lines file: (columns seen, [(line_number, object)])."""
    check_exists(path, hint)
    rows = []
    columns = {}
    try:
        with _open(path) as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as error:
                    raise DataError(
                        f"{path}, line {number}: not valid JSON ({error.msg} at "
                        f"column {error.colno}). A .jsonl file needs one complete "
                        "JSON object per line."
                    ) from None
                if not isinstance(obj, dict):
                    raise DataError(
                        f"{path}, line {number}: expected a JSON object "
                        f'({{"column": value, ...}}), found {type(obj).__name__}.'
                    )
                columns.update(dict.fromkeys(obj))
                rows.append((number, obj))
    except UnicodeDecodeError as error:
        raise _decode_error(path, error) from None
    return list(columns), rows


def read_json(path, hint=""):
    """A .json file: a list of objects (or {"data": [...]}), or JSON lines."""
    check_exists(path, hint)
    try:
        with _open(path) as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise _decode_error(path, error) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return read_jsonl(path, hint)  # JSON lines saved as .json
    if isinstance(data, dict):
        if isinstance(data.get("data"), list):
            data = data["data"]
        else:
            return read_jsonl(path, hint)  # a single-line JSON-lines file
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of objects (one per example), found "
            f"{type(data).__name__}."
        )
    columns = {}
    rows = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise DataError(
                f"{path}: item {i} of the list is a {type(obj).__name__}, not a "
                'JSON object ({"column": value, ...}).'
            )
        columns.update(dict.fromkeys(obj))
        rows.append((f"item {i}", obj))
    return list(columns), rows


def read_table(path, hint="", header=True):
    """Read any supported file by extension: (columns, [(where, row)]).

    `where` is the line number (or "item i" for a JSON list) for messages.
    TSV files are read GLUE-style (no quoting); CSV with standard quoting.
    """
    fmt = file_format(path)
    if fmt == "tsv":
        return read_delimited(path, "\t", header=header, quote=False, hint=hint)
    if fmt == "csv":
        return read_delimited(path, ",", header=header, quote=True, hint=hint)
    if fmt == "jsonl":
        return read_jsonl(path, hint)
    return read_json(path, hint)


def resolve_column(columns, aliases, path, what, required=True):
    """The first of `aliases` present in `columns`; a DataError when none is."""
    for name in aliases:
        if name in columns:
            return name
    if not required:
        return None
    present = ", ".join(repr(c) for c in columns) or "(none)"
    wanted = " or ".join(repr(a) for a in aliases)
    raise DataError(
        f"{path}: no column {wanted} for {what}. Columns present: {present}. "
        "Rename the column, or pick the columns to use."
    )
