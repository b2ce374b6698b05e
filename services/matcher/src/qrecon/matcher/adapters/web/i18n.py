"""The desk's languages (Babel): French by default, English available.

Templates are written with English message ids (``{% trans %}``, ``_()``); each language's
catalogue is ``locales/<lang>/LC_MESSAGES/messages.po``, compiled in memory at start (no
binary ``.mo`` in the tree). One Jinja2 environment per language, autoescaping every
template: a bank label is text from outside, never markup.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_percent
from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, select_autoescape

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}

# What each reason code of the engine and the review use cases means, in plain words
# (English message ids, translated by the catalogues). An unknown code is shown as is.
REASONS: dict[str, str] = {
    "amount.credit_note": "A credit note offsets the amount",
    "amount.exact": "The amount is exactly the invoice's",
    "amount.fee_shortfall": "The amount is the invoice's less bank fees",
    "amount.only": "Only the amount matches",
    "amount.overpayment": "The payment exceeds the invoice",
    "amount.partial": "A partial payment of the invoice",
    "amount.subset_sum": "The amount is the sum of several invoices",
    "amount.tie_oldest_first": "Several invoices have this amount: the oldest first",
    "amount.tie_unsettled": "Several invoices have this amount",
    "amount.zero": "The amount is zero",
    "counterparty.alias": "The payer is a known alias of the customer",
    "counterparty.iban": "The payer's IBAN is the customer's",
    "counterparty.name.exact": "The payer's name is the customer's",
    "counterparty.name.fuzzy": "The payer's name resembles the customer's",
    "counterparty.third_party": "A third party paid",
    "counterparty.unknown": "The payer is unknown",
    "date.invoice_after_payment": "The invoice is dated after the payment",
    "knowledge.rejected_pair": "A reviewer rejected this pair before",
    "knowledge.rejected_pair_filtered": "A pair a reviewer rejected was set aside",
    "reference.invoice_closed": "The reference names an invoice already settled",
    "reference.invoice_number.exact": "The reference contains the invoice number",
    "reference.invoice_number.fuzzy": "The reference resembles the invoice number",
    "reference.invoice_number.incomplete": "The reference contains part of the invoice number",
    "reference.invoice_number.partial": "The reference contains part of the invoice number",
    "reference.invoice_number.prefix": "The reference starts like the invoice number",
    "reference.invoice_number.several": "The reference names several invoices",
    "reference.payment_reference.exact": "The payment reference is the invoice's",
    "reference.points_elsewhere": "The reference names another invoice",
    "reference.rf_invalid": "The RF creditor reference is invalid",
    "reference.rf_valid": "The RF creditor reference is valid",
    "reference.unrecognised": "The reference is not recognised",
    "lifecycle.reverted.declined": "Qonto declined the transaction",
    "lifecycle.reverted.reversed": "The transaction was reversed",
    "lifecycle.carried_forward": "Carried forward from the previous version",
    "lifecycle.allocation_conflict": "Another line took the invoice meanwhile",
    "review.confirmed": "Confirmed by a reviewer",
    "review.rejected": "Rejected by a reviewer",
    "review.manual_match": "Matched by hand",
    "review.undone": "A decision was undone",
}


def _translations(lang: str) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    path = resources.files(__package__).joinpath("locales", lang, "LC_MESSAGES", "messages.po")
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


class Translator:
    """``_("Not an amount: %(value)s", value=text)`` in Python code, in one language."""

    def __init__(self, translations: NullTranslations) -> None:
        self.translations = translations

    def __call__(self, message: str, **variables: Any) -> str:
        text = str(self.translations.gettext(message))
        return text % variables if variables else text


def translators() -> dict[str, Translator]:
    return {lang: Translator(_translations(lang)) for lang in LANGUAGES}


def money(cents: int, currency: str, lang: str) -> str:
    return str(format_currency(Decimal(cents) / 100, currency or "EUR", locale=_LOCALES[lang]))


def environments() -> dict[str, Environment]:
    """One Jinja2 environment per language."""
    envs: dict[str, Environment] = {}
    for lang in LANGUAGES:
        env = Environment(
            loader=PackageLoader(__package__, "templates"),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        translations = _translations(lang)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        locale = _LOCALES[lang]

        def _money(cents: int, currency: str = "EUR", _lang: str = lang) -> str:
            return money(cents, currency, _lang)

        def _date(value: Any, _locale: str = locale) -> str:
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError:
                    return str(value)
            if isinstance(value, datetime):
                return str(format_date(value.date(), "medium", locale=_locale))
            if isinstance(value, date):
                return str(format_date(value, "medium", locale=_locale))
            return ""

        def _datetime(value: datetime | None, _locale: str = locale) -> str:
            if value is None:
                return ""
            return str(format_datetime(value, "medium", tzinfo=None, locale=_locale))

        def _percent(value: float, _locale: str = locale) -> str:
            return str(format_percent(value, locale=_locale))

        def _reason(code: str, _t: NullTranslations = translations) -> str:
            text = REASONS.get(code)
            return str(_t.gettext(text)) if text else code

        env.filters.update(
            money=_money, date=_date, datetime=_datetime, percent=_percent, reason=_reason
        )
        env.globals.update(lang=lang, languages=LANGUAGES, locale_name=Locale.parse(locale))
        envs[lang] = env
    return envs
