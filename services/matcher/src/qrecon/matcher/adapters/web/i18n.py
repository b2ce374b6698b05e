"""The desk's languages (Babel): French by default, English available.

Templates are written with English message ids (``{% trans %}``, ``_()``); each language's
catalogue is ``locales/<lang>/LC_MESSAGES/messages.po``, compiled in memory at start (no
binary ``.mo`` in the tree). One Jinja2 environment per language, autoescaping every
template: a bank label is text from outside, never markup.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
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

from qrecon.common.schemas import Allocation
from qrecon.matcher.core.explanations import explain_reasons

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


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

        def _explain(result: Mapping[str, Any], _lang: str = lang) -> list[tuple[str, str]]:
            return explain_in(result, _lang)

        env.filters.update(
            money=_money, date=_date, datetime=_datetime, percent=_percent, explain=_explain
        )
        env.globals.update(lang=lang, languages=LANGUAGES, locale_name=Locale.parse(locale))
        envs[lang] = env
    return envs


def explain_in(result: Mapping[str, Any], lang: str) -> list[tuple[str, str]]:
    """(code, sentence) for each reason of a result or an alternative (stored JSON), in
    ``lang``: the sentences are the engine's own (``core.explanations``), the one place
    where reason codes get words."""
    allocations = []
    for raw in result.get("allocations") or []:
        try:
            allocations.append(Allocation.model_validate(raw))
        except ValueError:
            continue
    texts = explain_reasons(
        [str(code) for code in result.get("reasons") or []],
        allocations=allocations,
        residual_cents=int(result.get("residual_cents") or 0),
        status=result.get("status"),
    )
    return [(t.code, t.fr if lang == "fr" else t.en) for t in texts]
