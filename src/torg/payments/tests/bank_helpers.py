"""Building bank statement files for the tests: parties with valid requisites, documents, whole files."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from torg.core.validators import bank_account_with_key, make_valid_inn

SBER_BIK, SBER_CORR = "044525225", "30101810400000000225"
ALFA_BIK, ALFA_CORR = "044525593", "30101810200000000593"
VTB_BIK, VTB_CORR = "044525187", "30101810700000000187"


def inn(n: int) -> str:
    """A valid 10-digit INN (legal entity), different for each n."""
    return make_valid_inn(f"77{n:07d}")


def person_inn(n: int) -> str:
    return make_valid_inn(f"50{n:08d}")


def account(n: int, bik: str = ALFA_BIK, prefix: str = "40702810") -> str:
    """A valid settlement account at the bank with this BIK (the control key computed)."""
    return bank_account_with_key(bik, f"{prefix}{n:011d}")


@dataclass(frozen=True)
class Side:
    account: str
    inn: str = ""
    kpp: str = ""
    name: str = ""
    bik: str = ALFA_BIK
    corr: str = ALFA_CORR
    bank: str = 'АО "АЛЬФА-БАНК"'


def side_lines(prefix: str, side: Side) -> list[str]:
    shown = f"ИНН {side.inn} {side.name}" if side.inn else side.name
    return [f"{prefix}Счет={side.account}", f"{prefix}={shown}", f"{prefix}ИНН={side.inn or '0'}",
            f"{prefix}КПП={side.kpp}", f"{prefix}1={side.name}", f"{prefix}РасчСчет={side.account}",
            f"{prefix}Банк1={side.bank}", f"{prefix}Банк2=г. Москва", f"{prefix}БИК={side.bik}",
            f"{prefix}Корсчет={side.corr}"]


def document(number: str, day: dt.date, amount: Decimal | str, payer: Side, payee: Side, purpose: str, *,
             credited: dt.date | None = None, debited: dt.date | None = None,
             kind: str = "Платежное поручение", amount_text: str | None = None) -> list[str]:
    """One `СекцияДокумент`: ДатаПоступило / ДатаСписано only when given (the side of the statement's account)."""
    lines = [f"СекцияДокумент={kind}", f"Номер={number}", f"Дата={day:%d.%m.%Y}",
             f"Сумма={amount_text if amount_text is not None else f'{Decimal(amount):.2f}'}"]
    payer_lines = side_lines("Плательщик", payer)
    payee_lines = side_lines("Получатель", payee)
    if debited:
        payer_lines.insert(1, f"ДатаСписано={debited:%d.%m.%Y}")
    if credited:
        payee_lines.insert(1, f"ДатаПоступило={credited:%d.%m.%Y}")
    return [*lines, *payer_lines, *payee_lines, "ВидПлатежа=электронно", "ВидОплаты=01", "Очередность=5",
            f"НазначениеПлатежа={purpose}", "КонецДокумента"]


def statement_file(accounts: list[str], start: dt.date, end: dt.date, documents: list[list[str]], *,
                   encoding: str = "Windows") -> bytes:
    header = ["1CClientBankExchange", "ВерсияФормата=1.03", f"Кодировка={encoding}", "Отправитель=Банк-Клиент",
              "Получатель=Бухгалтерия", f"ДатаСоздания={end:%d.%m.%Y}", "ВремяСоздания=09:00:00",
              f"ДатаНачала={start:%d.%m.%Y}", f"ДатаКонца={end:%d.%m.%Y}",
              *(f"РасчСчет={a}" for a in accounts), "Документ=Платежное поручение"]
    lines = header + [ln for doc in documents for ln in doc] + ["КонецФайла"]
    text = "\r\n".join(lines) + "\r\n"
    if encoding == "DOS":  # CP866 has no «»: DOS-era banks write straight quotes
        return text.replace("«", '"').replace("»", '"').encode("cp866")
    return text.encode("cp1251")
