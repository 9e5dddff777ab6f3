"""The 1CClientBankExchange reader and writer (no database): the reference example in both encodings and in UTF-8,
a broken section reported with its line while the others are read, unknown keys ignored, a wrong encoding
reported, the acquiring purpose texts, order numbers in a purpose, and a written file read back the same."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from torg.payments import bank_exchange as bx
from torg.payments.bank_exchange import ProblemCode

D = Decimal

# The complete example of the reference (integrations.md §3.3): a client's payment, an acquiring credit, a payment
# to a supplier, on the account of ООО «Торговый Дом».
EXAMPLE = """1CClientBankExchange
ВерсияФормата=1.03
Кодировка={encoding}
Отправитель=СберБизнес
Получатель=Бухгалтерия
ДатаСоздания=10.02.2026
ВремяСоздания=09:15:02
ДатаНачала=09.02.2026
ДатаКонца=09.02.2026
РасчСчет=40702810200000012345
Документ=Платежное поручение
СекцияРасчСчет
ДатаНачала=09.02.2026
ДатаКонца=09.02.2026
РасчСчет=40702810200000012345
НачальныйОстаток=150000.00
ВсегоПоступило=28741.50
ВсегоСписано=12000.00
КонечныйОстаток=166741.50
КонецРасчСчет
СекцияДокумент=Платежное поручение
Номер=318
Дата=09.02.2026
Сумма=25000.00
ПлательщикСчет=40702810400000054321
Плательщик=ИНН 7710123458 ООО "РОМАШКА"
ПлательщикИНН=7710123458
ПлательщикКПП=771001001
Плательщик1=ООО "РОМАШКА"
ПлательщикРасчСчет=40702810400000054321
ПлательщикБанк1=АО "АЛЬФА-БАНК"
ПлательщикБанк2=г. Москва
ПлательщикБИК=044525593
ПлательщикКорсчет=30101810200000000593
ПолучательСчет=40702810200000012345
ДатаПоступило=09.02.2026
Получатель=ИНН 7728123459 ООО "ТОРГОВЫЙ ДОМ"
ПолучательИНН=7728123459
ПолучательКПП=772801001
Получатель1=ООО "ТОРГОВЫЙ ДОМ"
ПолучательРасчСчет=40702810200000012345
ПолучательБанк1=ПАО СБЕРБАНК
ПолучательБанк2=г. Москва
ПолучательБИК=044525225
ПолучательКорсчет=30101810400000000225
ВидПлатежа=электронно
ВидОплаты=01
Очередность=5
НазначениеПлатежа=Оплата по счету № 1245 от 05.02.2026 за товары. В т.ч. НДС (22%) 4508.20
КонецДокумента
СекцияДокумент=Платежное поручение
Номер=901245
Дата=09.02.2026
Сумма=3741.50
ПлательщикСчет=30233810200000000001
Плательщик=ПАО СБЕРБАНК
ПлательщикИНН=7707083893
ПлательщикКПП=773601001
Плательщик1=ПАО СБЕРБАНК
ПлательщикРасчСчет=30233810200000000001
ПлательщикБанк1=ПАО СБЕРБАНК
ПлательщикБанк2=г. Москва
ПлательщикБИК=044525225
ПлательщикКорсчет=30101810400000000225
ПолучательСчет=40702810200000012345
ДатаПоступило=09.02.2026
Получатель=ООО "ТОРГОВЫЙ ДОМ"
ПолучательИНН=7728123459
ПолучательРасчСчет=40702810200000012345
ПолучательБанк1=ПАО СБЕРБАНК
ПолучательБИК=044525225
ПолучательКорсчет=30101810400000000225
ВидОплаты=01
Очередность=5
НазначениеПлатежа=Зачисление средств по операциям эквайринга. Мерчант №781000000001. Дата реестра 08.02.2026. \
Комиссия 58.50. Возврат покупки 0.00/0.00. НДС не облагается
КонецДокумента
СекцияДокумент=Платежное поручение
Номер=57
Дата=09.02.2026
Сумма=12000.00
ПлательщикСчет=40702810200000012345
ДатаСписано=09.02.2026
Плательщик=ИНН 7728123459 ООО "ТОРГОВЫЙ ДОМ"
ПлательщикИНН=7728123459
ПлательщикКПП=772801001
Плательщик1=ООО "ТОРГОВЫЙ ДОМ"
ПлательщикРасчСчет=40702810200000012345
ПлательщикБанк1=ПАО СБЕРБАНК
ПлательщикБанк2=г. Москва
ПлательщикБИК=044525225
ПлательщикКорсчет=30101810400000000225
ПолучательСчет=40702810300000077777
Получатель=ИНН 5003123458 ООО "ПОСТАВЩИК"
ПолучательИНН=5003123458
ПолучательКПП=500301001
Получатель1=ООО "ПОСТАВЩИК"
ПолучательРасчСчет=40702810300000077777
ПолучательБанк1=БАНК ВТБ (ПАО)
ПолучательБанк2=г. Москва
ПолучательБИК=044525187
ПолучательКорсчет=30101810700000000187
ВидПлатежа=электронно
ВидОплаты=01
Очередность=5
НазначениеПлатежа=Оплата по договору поставки № 12 от 10.01.2026. В т.ч. НДС (22%) 2163.93
КонецДокумента
КонецФайла
"""


def example(encoding: str = "Windows") -> str:
    return EXAMPLE.format(encoding=encoding).replace("\n", "\r\n")


def codes(parsed: bx.ParsedStatement) -> list[tuple[int, str]]:
    return [(p.line, p.code) for p in parsed.problems]


def test_the_reference_example_in_windows_1251() -> None:
    parsed = bx.parse(example().encode("cp1251"))

    assert parsed.problems == []
    assert parsed.encoding == "cp1251" and parsed.version == "1.03" and parsed.sender == "СберБизнес"
    assert (parsed.period_start, parsed.period_end) == (dt.date(2026, 2, 9), dt.date(2026, 2, 9))
    assert parsed.accounts == [(10, "40702810200000012345")]
    assert parsed.balances == [bx.AccountBalance(12, "40702810200000012345", dt.date(2026, 2, 9),
                                                 dt.date(2026, 2, 9), D("150000.00"), D("28741.50"),
                                                 D("12000.00"), D("166741.50"))]
    assert [(d.number, d.amount, d.credited_on, d.debited_on) for d in parsed.documents] == [
        ("318", D("25000.00"), dt.date(2026, 2, 9), None),
        ("901245", D("3741.50"), dt.date(2026, 2, 9), None),
        ("57", D("12000.00"), None, dt.date(2026, 2, 9)),
    ]
    client = parsed.documents[0]
    assert (client.first_line, client.last_line, client.kind) == (21, 50, "Платежное поручение")
    assert client.payer == bx.Party(account="40702810400000054321", inn="7710123458", kpp="771001001",
                                    name='ООО "РОМАШКА"', bank='АО "АЛЬФА-БАНК"', bank_city="г. Москва",
                                    bik="044525593", correspondent_account="30101810200000000593")
    assert client.payee.account == "40702810200000012345" and client.payee.inn == "7728123459"
    assert client.purpose == "Оплата по счету № 1245 от 05.02.2026 за товары. В т.ч. НДС (22%) 4508.20"
    assert client.line_of("Сумма") == 24


def test_dos_cp866_is_read_by_its_header() -> None:
    parsed = bx.parse(example("DOS").encode("cp866"))

    assert parsed.encoding == "cp866" and parsed.problems == []
    assert [d.payer.name for d in parsed.documents] == ['ООО "РОМАШКА"', "ПАО СБЕРБАНК", 'ООО "ТОРГОВЫЙ ДОМ"']


def test_utf8_under_a_windows_header_is_read_as_utf8() -> None:
    parsed = bx.parse(example().encode("utf-8"))

    assert parsed.encoding == "utf-8" and parsed.problems == []
    assert parsed.documents[2].payee.name == 'ООО "ПОСТАВЩИК"'
    with_bom = bx.parse(b"\xef\xbb\xbf" + example().encode("utf-8"))
    assert with_bom.encoding == "utf-8" and len(with_bom.documents) == 3


def test_a_wrong_encoding_in_the_header_is_reported_and_the_file_read_in_its_real_one() -> None:
    parsed = bx.parse(example("Windows").encode("cp866"))

    assert parsed.encoding == "cp866"
    assert codes(parsed) == [(3, ProblemCode.ENCODING_MISMATCH)]
    assert parsed.problems[0].message == ("The header says the encoding is “Windows”, but the file is written in "
                                          "DOS (CP866); it was read as DOS (CP866).")
    assert len(parsed.documents) == 3


def test_a_broken_section_is_skipped_with_its_line_and_the_others_are_read() -> None:
    text = example().replace("Сумма=3741.50", "Сумма=3 741,5O").replace(
        "ВидПлатежа=электронно\r\nВидОплаты=01\r\nОчередность=5\r\nНазначениеПлатежа=Оплата по договору",
        "ВидПлатежа=электронно\r\nэто не поле\r\nОчередность=5\r\nНазначениеПлатежа=Оплата по договору")
    parsed = bx.parse(text.encode("cp1251"))

    assert [d.number for d in parsed.documents] == ["318"]
    assert codes(parsed) == [(54, ProblemCode.BAD_AMOUNT), (103, ProblemCode.NOT_KEY_VALUE)]
    assert parsed.problems[0].message == ("Сумма “3 741,5O” is not an amount of the form 12354.00 above zero: the "
                                          "section that starts at line 51 is skipped.")
    assert parsed.problems[1].message == ("“это не поле” is not a Key=Value line: the section that starts at line "
                                          "77 is skipped.")
    assert parsed.sections == 3


def test_a_section_without_its_end_is_skipped_and_the_next_one_read() -> None:
    text = example().replace("НДС не облагается\r\nКонецДокумента\r\n", "НДС не облагается\r\n", 1)
    parsed = bx.parse(text.encode("cp1251"))

    assert [d.number for d in parsed.documents] == ["318", "57"]
    assert codes(parsed) == [(51, ProblemCode.UNTERMINATED_SECTION)]
    assert parsed.problems[0].message == ("The section that starts at line 51 has no “КонецДокумента” before line "
                                          "76: it is skipped.")


def test_a_file_cut_short_keeps_its_complete_sections() -> None:
    text = example()
    parsed = bx.parse(text[:text.index("Номер=57")].encode("cp1251"))

    assert [d.number for d in parsed.documents] == ["318", "901245"]
    assert [p.code for p in parsed.problems] == [ProblemCode.UNTERMINATED_SECTION, ProblemCode.NO_END_OF_FILE]


def test_unknown_keys_are_ignored_and_bad_dates_reported() -> None:
    text = example().replace("Очередность=5\r\nНазначениеПлатежа=Оплата по счету",
                             "Очередность=5\r\nИдентификаторБанка=XYZ-1\r\nНазначениеПлатежа=Оплата по счету")
    text = text.replace("Номер=57\r\nДата=09.02.2026", "Номер=57\r\nДата=31.02.2026")
    parsed = bx.parse(text.encode("cp1251"))

    assert [d.number for d in parsed.documents] == ["318", "901245"]
    assert parsed.documents[0].fields["ИдентификаторБанка"] == "XYZ-1"
    assert codes(parsed) == [(80, ProblemCode.BAD_DATE)]


def test_not_a_bank_file_and_an_empty_file() -> None:
    assert codes(bx.parse("Дата;Сумма\r\n01.02.2026;100.00".encode("cp1251"))) == [(1, ProblemCode.NOT_A_BANK_FILE)]
    assert codes(bx.parse(b"  \r\n")) == [(0, ProblemCode.EMPTY_FILE)]
    assert not bx.parse(b"").is_bank_file


def test_purpose_parts_are_joined() -> None:
    text = example().replace("НазначениеПлатежа=Оплата по счету № 1245 от 05.02.2026 за товары. В т.ч. НДС (22%) "
                             "4508.20", "НазначениеПлатежа=\r\nНазначениеПлатежа1=Оплата по счету № 1245\r\n"
                             "НазначениеПлатежа2=от 05.02.2026")
    parsed = bx.parse(text.encode("cp1251"))
    assert parsed.documents[0].purpose == "Оплата по счету № 1245 от 05.02.2026"


def test_a_balance_that_does_not_add_up_is_reported() -> None:
    parsed = bx.parse(example().replace("КонечныйОстаток=166741.50", "КонечныйОстаток=166741.00").encode("cp1251"))
    assert codes(parsed) == [(12, ProblemCode.BALANCE_DOES_NOT_ADD_UP)]
    assert len(parsed.documents) == 3


def test_acquiring_purposes() -> None:
    sber = bx.read_acquiring_credit(
        "Зачисление средств по операциям эквайринга. Мерчант №781000000001. Дата реестра 08.02.2026. Комиссия "
        "58.50. Возврат покупки 0.00/0.00. НДС не облагается")
    assert sber == bx.AcquiringDetails("781000000001", dt.date(2026, 2, 8), D("58.50"), D("0.00"), None, True)
    parts = bx.read_acquiring_credit("Эквайринг. Мерчант 781000000002. Дата реестра 07.02.2026. Комиссия 242.57 "
                                     "(в т.ч. НДС 43.74) и 16.20 (НДС не обл). Возврат покупки 150.00/2.25")
    assert (parts.commission, parts.refunds) == (D("258.77"), D("150.00"))
    other = bx.read_acquiring_credit("Возмещение ден.ср-в по Дог.экв. 55/21 за 06.02.2026. Оборот: 3800.00 руб.; "
                                     "Комиссия: 58.50 руб.")
    assert (other.registry_date, other.turnover, other.commission, other.merchant) == (
        dt.date(2026, 2, 6), D("3800.00"), D("58.50"), "")
    assert bx.is_acquiring_credit("30233810200000000001", "Зачисление по операциям с картами. Мерчант 1")
    assert bx.is_acquiring_credit("40702810400000054321", "Возмещение по Дог.экв. 5")
    assert not bx.is_acquiring_credit("40702810400000054321", "Оплата по счету № 12")
    assert not bx.is_acquiring_credit("30233810200000000001", "Возврат депозита")


def test_order_numbers_in_a_purpose() -> None:
    refs = bx.number_refs("Оплата по счету № РМ-000012 от 05.02.2026, заказ N 15 и РМ-7; сумма 4508.20")
    assert refs == {bx.NumberRef("РМ", 12), bx.NumberRef("", 15), bx.NumberRef("РМ", 7)}
    assert bx.refers_to(refs, "РМ-000012") and bx.refers_to(refs, "РМ-000015") and bx.refers_to(refs, "РМ-000007")
    assert not bx.refers_to(refs, "ИП-000012") and not bx.refers_to(refs, "РМ-004508")


def test_a_written_file_reads_back_as_the_same_documents() -> None:
    ours = bx.Party(account="40702810200000012345", inn="7728123459", kpp="772801001", name='ООО "ТОРГОВЫЙ ДОМ"',
                    bank="ПАО СБЕРБАНК", bik="044525225", correspondent_account="30101810400000000225")
    client = bx.Party(account="40702810400000054321", inn="7710123458", kpp="771001001", name='ООО "РОМАШКА"',
                      bank='АО "АЛЬФА-БАНК"', bik="044525593", correspondent_account="30101810200000000593")
    person = bx.Party(account="40817810099910004312", name="Иванов Иван Иванович", bank="ПАО СБЕРБАНК",
                      bik="044525225", correspondent_account="30101810400000000225")
    orders = [bx.PaymentOrder("12", dt.date(2026, 2, 10), D("1500.5"), ours, client, "Возврат аванса. Без НДС"),
              bx.PaymentOrder("13", dt.date(2026, 2, 11), D("99.99"), ours, person, "Возврат\nпереплаты «№ 5»")]
    data = bx.render(bx.ExportFile(["40702810200000012345"], dt.date(2026, 2, 10), dt.date(2026, 2, 11), orders,
                                   dt.datetime(2026, 2, 11, 18, 30, 5)))

    assert data.startswith(b"1CClientBankExchange\r\nVersion".replace(b"Version", "ВерсияФормата".encode("cp1251")))
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert "Кодировка=Windows\r\n".encode("cp1251") in data and data.endswith("КонецФайла\r\n".encode("cp1251"))
    parsed = bx.parse(data)
    assert parsed.problems == [] and parsed.encoding == "cp1251"
    assert [(d.kind, d.number, d.date, d.amount, d.payer, d.payee, d.purpose) for d in parsed.documents] == [
        ("Платежное поручение", "12", dt.date(2026, 2, 10), D("1500.50"), ours, client, "Возврат аванса. Без НДС"),
        ("Платежное поручение", "13", dt.date(2026, 2, 11), D("99.99"), ours, person, "Возврат переплаты «№ 5»"),
    ]
    assert parsed.header["ДатаСоздания"] == "11.02.2026" and parsed.header["ВремяСоздания"] == "18:30:05"
    assert parsed.accounts == [(10, "40702810200000012345")]
