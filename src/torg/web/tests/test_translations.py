"""Translations: the catalogues are complete and current, and pages speak the language the user chose.

Source strings are English; `src/torg/locale/ru` holds the Russian catalogue and `src/torg/locale/en`
the English one (msgstr = msgid). After adding or changing a translatable string, run from `src/torg`:

    ../../.venv/bin/python ../../manage.py makemessages -l ru -l en --no-location \
        -i static/vendor -i node_modules -i .venv -i "*/tests/*"

then translate the new Russian entries (no fuzzy ones), fill the English ones, and `make messages`.
"""
from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation

import torg
from torg.catalogs.models import Item, Organization, Partner, Unit, Warehouse
from torg.catalogs.services import save_item
from torg.conftest import moment
from torg.core.permissions import Role
from torg.stock.models import Purchase, PurchaseLine
from torg.stock.services import post, save_stock_document
from torg.stock.views import print_context

SOURCE = Path(torg.__file__).resolve().parent
LOCALE = SOURCE / "locale"
RU_PLURAL_FORMS = ("nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
                   "(n%100<10 || n%100>=20) ? 1 : 2);")
EN_PLURAL_FORMS = "nplurals=2; plural=(n != 1);"
# %(name)s and the other printf conversions, {name} of str.format messages; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\(\w+\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"
                         r"|\{\w+\}")


# ------------------------------------------------------------------ reading .po files
@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid

    def __str__(self) -> str:
        context = f" (context {self.msgctxt!r})" if self.msgctxt else ""
        return f"line {self.line}: {self.msgid!r}{context}"


def read_po(path: Path) -> list[Entry]:
    """Every entry of a .po file, the header first; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None
    flags: set[str] = set()
    last_keyword = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#,"):
            flags |= {f.strip() for f in line[2:].split(",")}
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            assert current is not None and target is not None, f"{path}:{number}: a string continues nothing"
            text = ast.literal_eval(line)
        else:
            keyword, _, rest = line.partition(" ")
            # An entry starts with its msgctxt, or with its msgid when it has no context.
            if keyword == "msgctxt" or (keyword == "msgid" and last_keyword != "msgctxt"):
                current = Entry(number, flags)
                entries.append(current)
                flags = set()
            assert current is not None, f"{path}:{number}: {keyword} outside an entry"
            last_keyword = keyword
            text = ast.literal_eval(rest.strip())
            if keyword.startswith("msgstr["):
                target = ("msgstr_plural", int(keyword[7:-1]))
                current.msgstr_plural[target[1]] = ""
            elif keyword in ("msgctxt", "msgid", "msgid_plural", "msgstr"):
                target = (keyword, 0)
                setattr(current, keyword, "")
            else:
                raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
        name, index = target
        if name == "msgstr_plural":
            current.msgstr_plural[index] += text
        else:
            setattr(current, name, getattr(current, name) + text)
    return entries


def header_fields(entries: list[Entry]) -> dict[str, str]:
    header = entries[0]
    assert header.msgid == "" and header.msgctxt is None, "the catalogue must start with its header"
    return dict(line.split(": ", 1) for line in header.msgstr.splitlines() if ": " in line)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def catalogues(language: str) -> list[Path]:
    return sorted((LOCALE / language / "LC_MESSAGES").glob("*.po"))


# ------------------------------------------------------------------ the catalogues
def test_the_parser_reads_contexts_and_plurals(tmp_path: Path) -> None:
    po = tmp_path / "x.po"
    po.write_text('msgid ""\nmsgstr ""\n"Language: ru\\n"\n\n#, python-format\nmsgctxt "menu"\nmsgid "Stock"\n'
                  'msgstr "Склад"\n\nmsgid "%(n)s row"\nmsgid_plural "%(n)s rows"\nmsgstr[0] "%(n)s строка"\n'
                  'msgstr[1] ""\n"%(n)s строки"\nmsgstr[2] "%(n)s строк"\n\n#, fuzzy\nmsgid "A"\nmsgstr "Б"\n\n'
                  '#~ msgid "old"\n#~ msgstr "старое"\n', encoding="utf-8")
    header, stock, rows, fuzzy = read_po(po)
    assert (header.msgid, header.msgstr, header_fields([header])) == ("", "Language: ru\n", {"Language": "ru"})
    assert (stock.msgctxt, stock.msgid, stock.msgstr, stock.flags) == ("menu", "Stock", "Склад", {"python-format"})
    assert rows.msgstr_plural == {0: "%(n)s строка", 1: "%(n)s строки", 2: "%(n)s строк"}
    assert (fuzzy.msgid, fuzzy.flags) == ("A", {"fuzzy"})


def test_there_is_a_russian_and_an_english_catalogue() -> None:
    assert [p.name for p in catalogues("ru")] == [p.name for p in catalogues("en")]
    assert "django.po" in [p.name for p in catalogues("ru")]


@pytest.mark.parametrize("path", catalogues("ru"), ids=lambda p: p.name)
def test_russian_catalogue_is_complete_and_keeps_placeholders(path: Path) -> None:
    entries = read_po(path)
    header = header_fields(entries)
    assert "fuzzy" not in entries[0].flags, "the header is marked fuzzy: its plural forms would be ignored"
    assert header.get("Language") == "ru"
    assert header.get("Plural-Forms") == RU_PLURAL_FORMS
    problems = []
    for entry in entries[1:]:
        if "fuzzy" in entry.flags:
            problems.append(f"{entry}: fuzzy — check the translation and remove the flag")
        wanted = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
        if entry.msgid_plural is not None:
            forms = [entry.msgstr_plural.get(i, "") for i in range(3)]
            if sorted(entry.msgstr_plural) != [0, 1, 2] or not all(forms):
                problems.append(f"{entry}: needs the three Russian plural forms")
        else:
            forms = [entry.msgstr]
            if not entry.msgstr:
                problems.append(f"{entry}: not translated")
        for form in forms:
            if form and placeholders(form) != wanted:
                problems.append(f"{entry}: placeholders {sorted(placeholders(form))} differ from {sorted(wanted)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", catalogues("en"), ids=lambda p: p.name)
def test_english_catalogue_repeats_the_source_strings(path: Path) -> None:
    entries = read_po(path)
    assert "fuzzy" not in entries[0].flags
    assert header_fields(entries).get("Plural-Forms") == EN_PLURAL_FORMS
    wrong = [str(e) for e in entries[1:] if "fuzzy" in e.flags or (
        e.msgstr_plural != {0: e.msgid, 1: e.msgid_plural} if e.msgid_plural is not None else e.msgstr != e.msgid)]
    assert not wrong, "\n".join(wrong)


def test_russian_and_english_catalogues_have_the_same_entries() -> None:
    for ru in catalogues("ru"):
        en = LOCALE / "en" / "LC_MESSAGES" / ru.name
        assert {e.key for e in read_po(ru)} == {e.key for e in read_po(en)}, ru.name


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext (Debian package gettext)")
def test_catalogues_hold_every_translatable_string_of_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 settings: Any) -> None:
    """makemessages over a copy of the source finds exactly the entries of the committed catalogue."""
    copy = tmp_path / "torg"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("locale", "tests", "vendor", "__pycache__", "*.pyc"))
    (copy / "locale").mkdir()
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["ru"], no_location=True, verbosity=0)
    for fresh in sorted((copy / "locale" / "ru" / "LC_MESSAGES").glob("*.po")):
        found = {e.key for e in read_po(fresh)[1:]}
        kept = {e.key for e in read_po(LOCALE / "ru" / "LC_MESSAGES" / fresh.name)[1:]}
        assert not found - kept, f"strings not in {fresh.name} yet (run makemessages and translate them): " \
                                 f"{sorted(found - kept, key=str)}"
        assert not kept - found, f"{fresh.name} has entries the source no longer uses (run makemessages): " \
                                 f"{sorted(kept - found, key=str)}"


def test_javascript_shows_only_text_the_page_gives_it() -> None:
    """documents.js has no text of its own: the page passes translated messages (window.TORG_DOC, data-confirm).
    A script that starts showing its own words needs the JavaScript catalogue (djangojs) instead."""
    for script in sorted((SOURCE / "web" / "static" / "web").glob("*.js")):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", script.read_text(encoding="utf-8"), flags=re.S)
        texts = [t for t in re.findall(r'"((?:[^"\\]|\\.)*)"', code)
                 if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", t) and t != "use strict"]
        assert not texts, f"{script.name} shows its own text: {texts}"


# ------------------------------------------------------------------ pages in each language
def _client_in(language: str) -> Client:
    client = Client()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def administrator(db: Any) -> User:
    user = User.objects.create_user("администратор", password="pass12345", first_name="Анна", last_name="Ершова")
    user.groups.add(Group.objects.get_or_create(name=Role.ADMINISTRATOR)[0])
    return user


@pytest.mark.django_db
def test_login_page_in_russian_and_in_english() -> None:
    russian = _client_in("ru").get(reverse("login")).content.decode()
    english = _client_in("en").get(reverse("login")).content.decode()

    assert '<html lang="ru">' in russian
    assert "<title>Войти · torg</title>" in russian
    assert "Управление торговлей: заказы, склад, доставка, оплаты." in russian
    assert ">Логин</label>" in russian and ">Пароль</label>" in russian
    assert "Log in" not in russian and "Password" not in russian

    assert '<html lang="en">' in english
    assert "<title>Log in · torg</title>" in english
    assert "Trade management: orders, stock, deliveries, payments." in english
    assert ">Login</label>" in english and ">Password</label>" in english
    assert "Войти" not in english


@pytest.mark.django_db
def test_wrong_password_is_explained_in_the_users_language() -> None:
    wrong = {"username": "nobody", "password": "nothing"}
    russian = _client_in("ru").post(reverse("login"), wrong).content.decode()
    english = _client_in("en").post(reverse("login"), wrong).content.decode()
    assert "Неверный логин или пароль." in russian
    assert "The login or the password is wrong." in english


@pytest.mark.django_db
def test_home_page_in_russian_and_in_english(administrator: User) -> None:
    ru_client, en_client = _client_in("ru"), _client_in("en")
    ru_client.force_login(administrator)
    en_client.force_login(administrator)
    russian = ru_client.get(reverse("home")).content.decode()
    english = en_client.get(reverse("home")).content.decode()

    assert "Здравствуйте, Анна Ершова" in russian
    for text in ("Справочники", "Номенклатура", "Склад", "Приобретения товаров и услуг", "Перемещения товаров",
                 "Пересчёты товаров", "Списания недостач товаров", "Оприходования излишков товаров",
                 "Ввод начальных остатков", "Ведомость по товарам на складах", "Пользователи и роли",
                 ">Администратор<", "Выйти"):
        assert text in russian, text

    assert "Hello, Анна Ершова" in english
    for text in ("Catalogs", "Items", ">Stock<", "Purchases", "Transfers", "Stock counts", "Write-offs",
                 "Surpluses", "Opening balances", "Stock report", "Users and roles", ">Administrator<", "Log out"):
        assert text in english, text


@pytest.mark.django_db
def test_the_language_switch_names_each_language_in_itself(administrator: User) -> None:
    client = _client_in("ru")
    client.force_login(administrator)
    html = client.get(reverse("home")).content.decode()
    assert 'title="Русский"' in html and 'title="English"' in html


@pytest.mark.django_db
def test_plural_forms_follow_russian_grammar(administrator: User, unit: Unit) -> None:
    client = _client_in("ru")
    client.force_login(administrator)
    counts = {}
    for n in (1, 2, 5, 21):
        Item.objects.all().delete()
        Item.objects.bulk_create([Item(name=f"Товар {i}", unit=unit) for i in range(n)])
        html = client.get(reverse("catalogs:items_list")).content.decode()
        counts[n] = re.search(r"(\d+ запис\w*)", html).group(1)  # type: ignore[union-attr]
    assert counts == {1: "1 запись", 2: "2 записи", 5: "5 записей", 21: "21 запись"}


# ------------------------------------------------------------------ no English left on Russian pages
class VisibleText(HTMLParser):
    """Text a person sees or hears: element text, and the title, placeholder, aria-label, alt and
    data-confirm attributes; scripts and styles are not text."""

    ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-confirm")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [value for name, value in attrs if name in self.ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


# Latin words a Russian page may show: the product's name, the language switch, file and interface names.
ALLOWED_LATIN = {"torg", "RU", "EN", "English", "API", "xlsx"}


def latin_words(html: str) -> dict[str, str]:
    parser = VisibleText()
    parser.feed(html)
    return {word: part for part in parser.parts for word in re.findall(r"[A-Za-z]{2,}", part)
            if word not in ALLOWED_LATIN}


@pytest.fixture
def russian_company(db: Any, administrator: User) -> Purchase:
    """A small company whose own data is Russian, so any Latin word on its pages is the interface's."""
    unit = Unit.objects.create(code="796", name="шт", full_name="штука")
    organization = Organization.objects.create(name="ООО «Ромашка»", prefix="РМ", inn="7707083893",
                                               kpp="773601001")
    warehouse = Warehouse.objects.create(name="Центральный склад")
    supplier = Partner.objects.create(name="Молокозавод «Зорька»", is_client=False, is_supplier=True)
    milk = save_item(Item(name="Молоко 3,2% 1 л", sku="МЛК-1", unit=unit), ["4607001771234"], administrator)
    milk.name = "Молоко 2,5% 1 л"
    save_item(milk, ["4607001771234"], administrator)
    doc = Purchase(organization=organization, warehouse=warehouse, supplier=supplier, date=moment("2025-03-10"))
    save_stock_document(doc, [PurchaseLine(item=milk, quantity=Decimal(12), price=Decimal("61.50"), vat_rate=22)],
                        user=administrator)
    post(doc, user=administrator)
    return doc


def _russian_pages(doc: Purchase) -> Iterator[str]:
    item = doc.lines.get().item
    yield reverse("home")
    yield reverse("catalogs:items_list")
    yield reverse("catalogs:items_edit", args=[item.pk])
    yield reverse("catalogs:items_new")
    yield reverse("catalogs:organizations_edit", args=[doc.organization_id])
    yield reverse("stock:purchases_list")
    yield reverse("stock:purchases_edit", args=[doc.pk])
    yield reverse("stock:stock_counts_new")
    yield reverse("reports:stock")
    yield reverse("reports:stock") + "?mode=turnover&start=2025-03-01&end=2025-03-31"
    yield reverse("reports:stock") + "?mode=cost&date=2025-03-31"
    yield reverse("user_list")
    yield reverse("settings")
    yield "/no-such-page/"


@pytest.mark.django_db
def test_russian_pages_show_no_english_words(russian_company: Purchase, administrator: User) -> None:
    client = _client_in("ru")
    client.force_login(administrator)
    leftovers = {}
    for url in _russian_pages(russian_company):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        words = latin_words(response.content.decode())
        if words:
            leftovers[url] = words
    assert not leftovers


@pytest.mark.django_db
def test_the_print_form_in_russian_shows_no_english_words(russian_company: Purchase) -> None:
    with translation.override("ru"):
        html = render_to_string("stock/print/document.html", print_context(russian_company))
    assert "Всего наименований 1, на сумму 738,00 руб." in html
    assert not latin_words(html)


@pytest.mark.django_db
def test_the_print_form_in_english(russian_company: Purchase) -> None:
    with translation.override("en"):
        html = render_to_string("stock/print/document.html", print_context(russian_company))
    assert "1 line, amount 738.00 RUB." in html and "Total with VAT" not in html
