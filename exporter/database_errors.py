"""What a database error means for a batch of spans: wait, try again, or set records aside.

The writer asks :func:`classify` about every error a transaction raised:

- :attr:`Failure.UNAVAILABLE`: the database cannot be used now (connection refused or lost,
  server shutting down, disk full, read-only, schema or permission missing). Nothing is
  wrong with the data: ingest answers 503 and the drain waits and tries the same batch again.
- :attr:`Failure.BUSY`: a lock wait timed out, a deadlock or a serialization failure; the
  transaction is tried again after a short pause, and counts as unavailable if it stays busy.
- :attr:`Failure.CONFLICT`: a unique or foreign key failed. A concurrent writer storing the
  same span first does that once (the next attempt merges into its row); when it fails
  again the data is refused.
- :attr:`Failure.REFUSED`: the database or its driver refused a value (NUL bytes, lone
  surrogates, a string too long, an invalid number or date, a check or not-null
  constraint, a trigger): the records are isolated and set aside, the others stored.

MariaDB/MySQL errors are read by their error number (the driver reports data errors such
as "Incorrect string value" as ``OperationalError``), SQLite errors by their extended result
name, PostgreSQL errors (and other MariaDB ones) by the class of their SQLSTATE. What no
rule knows counts as unavailable: the batch waits rather than lose records.
"""

from __future__ import annotations

import enum
from typing import Final

from sqlalchemy import exc

__all__ = ["Failure", "classify", "reason", "transient"]


class Failure(enum.Enum):
    """What a failed transaction calls for; see the module docstring."""

    UNAVAILABLE = "unavailable"
    BUSY = "busy"
    CONFLICT = "conflict"
    REFUSED = "refused"


_SQLSTATE_BUSY: Final = frozenset({"40001", "40P01", "55P03", "57014"})
_SQLSTATE_RACES: Final = frozenset({"23000", "23505", "23503"})  # unique and foreign keys
_SQLSTATE_CLASSES: Final = {
    "22": Failure.REFUSED,  # data exception: NUL, too long, out of range, bad encoding
    "23": Failure.REFUSED,  # check or not-null constraint: the data (keys: see above)
    "08": Failure.UNAVAILABLE,  # connection exception
    "25": Failure.UNAVAILABLE,  # read-only transaction (a hot standby)
    "42": Failure.UNAVAILABLE,  # missing table or column, permission denied
    "53": Failure.UNAVAILABLE,  # disk full, out of memory, too many connections
    "57": Failure.UNAVAILABLE,  # shutting down, cannot connect now
    "58": Failure.UNAVAILABLE,  # I/O error
}
_MYSQL_BUSY: Final = frozenset({1205, 1213, 1969, 3024})  # lock wait, deadlock, time limits
_MYSQL_CONFLICT: Final = frozenset({1022, 1062, 1169, 1216, 1217, 1451, 1452, 1557, 1586})
_MYSQL_REFUSED: Final = frozenset(
    {
        1048,  # column cannot be null
        1264,  # out of range value
        1265,  # data truncated
        1292,  # incorrect datetime (or other) value
        1300,  # invalid character string
        1366,  # incorrect string value (e.g. invalid UTF-8)
        1367,  # illegal value
        1406,  # data too long
        1411,  # incorrect value for function
        1644,  # a trigger's SIGNAL
        1690,  # value out of range
        3140,  # invalid JSON text
        3819,  # check constraint violated (MySQL)
        4025,  # CONSTRAINT failed (MariaDB's check constraints)
        4038,  # syntax error in JSON text
    }
)
_SQLITE_BUSY: Final = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})
_SQLITE_REFUSED: Final = frozenset({"SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE"})
_SQLITE_RACES: Final = frozenset(
    {
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
        "SQLITE_CONSTRAINT_FOREIGNKEY",
        "SQLITE_CONSTRAINT",
    }
)


def _from_sqlstate(sqlstate: str) -> Failure | None:
    if sqlstate in _SQLSTATE_BUSY:
        return Failure.BUSY
    if sqlstate in _SQLSTATE_RACES:
        return Failure.CONFLICT
    return _SQLSTATE_CLASSES.get(sqlstate[:2])


def _from_mysql(number: int) -> Failure | None:
    if number in _MYSQL_BUSY:
        return Failure.BUSY
    if number in _MYSQL_CONFLICT:
        return Failure.CONFLICT
    if number in _MYSQL_REFUSED:
        return Failure.REFUSED
    return None


def _from_sqlite(name: str) -> Failure | None:
    prefix = name.split("_")[:2]
    base = "_".join(prefix)
    if base in _SQLITE_BUSY:
        return Failure.BUSY
    if name in _SQLITE_RACES:
        return Failure.CONFLICT
    if base == "SQLITE_CONSTRAINT":  # check, not null, a trigger's RAISE
        return Failure.REFUSED
    if base in _SQLITE_REFUSED:
        return Failure.REFUSED
    return None


def _from_driver(original: BaseException) -> Failure | None:
    args = getattr(original, "args", ())
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        known = _from_mysql(args[0])  # PyMySQL: (error number, message)
        if known is not None:
            return known
    sqlite_name = getattr(original, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        return _from_sqlite(sqlite_name)
    sqlstate = getattr(original, "sqlstate", None)  # standard classes, on MariaDB too
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return _from_sqlstate(sqlstate)
    return None


def classify(error: BaseException) -> Failure | None:
    """Return what ``error``, raised while writing a batch, calls for; None if no database error.

    None means a fault of the program, not of the database or the data: the caller lets it
    propagate.
    """
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return Failure.UNAVAILABLE
        known = None if error.orig is None else _from_driver(error.orig)
        if known is not None:
            return known
        if "database is locked" in str(error.orig).lower():
            return Failure.BUSY
        if isinstance(error, exc.IntegrityError):
            return Failure.CONFLICT
        if isinstance(error, exc.DataError):
            return Failure.REFUSED
        return Failure.UNAVAILABLE
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError | ConnectionError):
        return Failure.UNAVAILABLE
    if isinstance(error, exc.StatementError):  # a value no bind processor could convert
        return Failure.REFUSED if isinstance(error.orig, ValueError | TypeError) else None
    if isinstance(error, UnicodeError):  # drivers refuse lone surrogates this way
        return Failure.REFUSED
    return None


def transient(error: BaseException) -> bool:
    """Tell whether trying the same transaction again may succeed (unavailable or busy).

    What other clean-ups and maintenance jobs ask before they retry: a conflict or a
    refused value would fail again.
    """
    return classify(error) in (Failure.UNAVAILABLE, Failure.BUSY)


def reason(error: BaseException) -> str:
    """Return the database's reason for ``error`` in one line, without the SQL statement."""
    original = getattr(error, "orig", None) if isinstance(error, exc.StatementError) else None
    source = original if isinstance(original, BaseException) else error
    text = " ".join(str(source).split())
    return f"refused by the database: {text or type(source).__name__}"
