"""Invoice numbering: the schemes French SMEs and their suppliers use, and how a number
is formatted from a scheme.

A scheme is a ``str.format`` pattern; it may use ``{Y}``/``{year}`` (2025),
``{y}``/``{yy}`` (25), ``{M}``/``{month}`` (the issue month) and ``{n}``/``{seq}`` (the
sequence number), e.g. ``"FAC-{Y}-{n:04d}"``.
"""

from __future__ import annotations

# a company's own client-invoice numbering (one per company)
CLIENT_SCHEMES = (
    "FAC-{Y}-{n:04d}",
    "F{Y}-{n:04d}",
    "FA{Y}{n:05d}",
    "{Y}-{n:04d}",
    "FAC{Y}{M:02d}-{n:03d}",
)
# the numbering a company switches to mid-year (it happens)
SECOND_CLIENT_SCHEMES = ("FAC-{Y}-{n:05d}", "F{Y}{M:02d}{n:04d}", "{Y}/{n:04d}")
CREDIT_NOTE_SCHEMES = ("AV-{Y}-{n:04d}", "AV{Y}-{n:04d}", "AVOIR-{Y}-{n:03d}")
# suppliers' numbering, as printed on the invoices we receive
SUPPLIER_SCHEMES = (
    "INV-{n:05d}",
    "F{Y}/{n:04d}",
    "{n:06d}",
    "FA-{y}-{n:04d}",
    "{Y}{n:05d}",
    "FC{n:07d}",
    "N{n:04d}-{y}",
)
# utilities and insurers paid by direct debit (long numbers)
DIRECT_DEBIT_SCHEMES = ("{n:010d}", "{Y}{n:06d}", "FM{n:08d}")


def format_number(scheme: str, *, year: int, month: int, n: int) -> str:
    """The invoice number ``n`` of ``scheme`` for an invoice issued in ``month``/``year``."""
    return scheme.format(
        Y=year, y=year % 100, M=month, n=n, year=year, yy=year % 100, month=month, seq=n
    )


def fac_number(year: int, seq: int) -> str:
    """``FAC-2025-0042``: the emulator's company numbers its client invoices this way."""
    return f"FAC-{year}-{seq:04d}"
