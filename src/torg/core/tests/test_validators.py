"""Tests of the Russian requisites validators (pure functions; no database).

Every real-world value below was checked by computing it, and agrees with integrations.md section 6.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

if not settings.configured:  # run standalone (-p no:django): lazy messages need some settings
    settings.configure(USE_I18N=False)

from django.core.exceptions import ValidationError  # noqa: E402
from django.utils import translation  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torg.core.validators import (  # noqa: E402
    ACCOUNT_WEIGHTS,
    INN12_WEIGHTS_2,
    bank_account_with_key,
    gtin_check_digit,
    inn_check_digits,
    make_valid_inn,
    make_valid_ogrn,
    validate_bank_account,
    validate_bik,
    validate_corr_account,
    validate_inn,
    validate_inn_individual,
    validate_inn_legal,
    validate_kpp,
    validate_ogrn,
    validate_ogrn_any,
    validate_ogrnip,
)

SBERBANK_BIK = "044525225"
SBERBANK_CORR = "30101810400000000225"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages are asserted in English whatever the project's language is."""
    with translation.override("en"):
        yield


def error_of(func: Callable[..., None], *args: str, **kwargs: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        func(*args, **kwargs)
    return info.value


def code_of(func: Callable[..., None], *args: str, **kwargs: str) -> str | None:
    return error_of(func, *args, **kwargs).code


def message_of(func: Callable[..., None], *args: str, **kwargs: str) -> str:
    messages = error_of(func, *args, **kwargs).messages
    assert len(messages) == 1
    return messages[0]


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


# --------------------------------------------------------------------------------------------------- INN


@pytest.mark.parametrize("inn", [
    "7707083893",  # ПАО Сбербанк
    "7728123459", "7710123458", "7736050003", "7702070139", "7604083179",
    "500100732259",  # 12-digit (person)
])
def test_inn_valid(inn: str) -> None:
    assert validate_inn(inn) is None


def test_inn_kind() -> None:
    assert validate_inn("7707083893", kind="legal") is None
    assert validate_inn("500100732259", kind="individual") is None
    assert validate_inn_legal("7707083893") is None
    assert validate_inn_individual("500100732259") is None
    assert code_of(validate_inn, "500100732259", kind="legal") == "inn_length"
    assert code_of(validate_inn, "7707083893", kind="individual") == "inn_length"
    assert code_of(validate_inn_legal, "500100732259") == "inn_length"
    assert code_of(validate_inn_individual, "7707083893") == "inn_length"
    assert message_of(validate_inn_legal, "500100732259") == (
        "INN of a legal entity must have 10 digits; “500100732259” has 12.")
    assert message_of(validate_inn_individual, "7707083893") == (
        "INN of a sole trader or a person must have 12 digits; “7707083893” has 10.")


def test_inn_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_inn("7707083893", kind="company")  # type: ignore[arg-type]


@pytest.mark.parametrize("inn", ["", "7712345", "770708389", "77070838931", "5001007322590"])
def test_inn_length(inn: str) -> None:
    assert code_of(validate_inn, inn) == "inn_length"


def test_inn_length_message() -> None:
    assert message_of(validate_inn, "7712345") == (
        "INN must have 10 digits (legal entity) or 12 digits (sole trader or person); “7712345” has 7.")


@pytest.mark.parametrize("inn", [
    "770708389a", "7707 83893", "-707083893",
    "７７０７０８３８９３", "77070838９3", "²707083893",  # non-ASCII digits
])
def test_inn_non_digits(inn: str) -> None:
    assert code_of(validate_inn, inn) == "inn_format"


def test_inn_non_digits_message() -> None:
    assert message_of(validate_inn, "7707 83893") == (
        "INN must contain digits only; “7707 83893” contains other characters.")


def test_inn10_checksum() -> None:
    assert code_of(validate_inn, "7707083894") == "inn_checksum"
    assert message_of(validate_inn, "7707083894") == (
        "INN 7707083894 has a wrong check digit: the last digit should be 3.")
    assert code_of(validate_inn, "7707083393") == "inn_checksum"  # a typo in the body


def test_inn12_checksum_of_both_digits() -> None:
    # only the 12th digit wrong
    assert code_of(validate_inn, "500100732258") == "inn_checksum"
    assert message_of(validate_inn, "500100732258") == (
        "INN 500100732258 has a wrong check digit: the last digit should be 9.")
    # only the 11th digit wrong
    assert code_of(validate_inn, "500100732249") == "inn_checksum"
    assert message_of(validate_inn, "500100732269") == (
        "INN 500100732269 has wrong check digits: the last two digits should be 59.")


def test_inn12_first_check_digit_alone_is_checked() -> None:
    # 12-digit numbers whose 12th digit is right for their own first 11 digits but whose 11th is wrong:
    # a validator that checks only the last digit (checklist item 11) would accept them.
    rng = random.Random(12)
    for _ in range(200):
        body = digits(rng, 10)
        right11 = inn_check_digits(body)[0]
        wrong11 = str((int(right11) + 1) % 10)
        first11 = body + wrong11
        last = str(sum(int(d) * w for d, w in zip(first11, INN12_WEIGHTS_2, strict=True)) % 11 % 10)
        assert code_of(validate_inn, first11 + last) == "inn_checksum"


def test_inn_check_digits_helper() -> None:
    assert inn_check_digits("770708389") == "3"
    assert inn_check_digits("5001007322") == "59"
    assert make_valid_inn("770708389") == "7707083893"
    assert make_valid_inn("5001007322") == "500100732259"
    for bad in ("", "77070838", "77070838931", "77070838a"):
        with pytest.raises(ValueError):
            inn_check_digits(bad)


def test_generated_inns_validate() -> None:
    rng = random.Random(20240601)
    for _ in range(2000):
        legal = digits(rng, 9)
        person = digits(rng, 10)
        assert validate_inn(legal + inn_check_digits(legal), kind="legal") is None
        assert validate_inn(make_valid_inn(person), kind="individual") is None


@given(st.text(alphabet="0123456789", min_size=9, max_size=9) | st.text(alphabet="0123456789", min_size=10,
                                                                         max_size=10))
def test_generated_inn_validates_and_any_other_check_digit_fails(prefix: str) -> None:
    inn = make_valid_inn(prefix)
    assert validate_inn(inn) is None
    for digit in "0123456789":
        if digit != inn[-1]:
            assert code_of(validate_inn, inn[:-1] + digit) == "inn_checksum"


# --------------------------------------------------------------------------------------------------- KPP


@pytest.mark.parametrize("kpp", ["773601001", "771001001", "772801001", "7736AB001", "77360Z001", "7736Z0001"])
def test_kpp_valid(kpp: str) -> None:
    assert validate_kpp(kpp) is None


@pytest.mark.parametrize("kpp", [
    "", "77360100", "7736010011",  # length
    "773601A01", "A73601001", "7736АБ001",  # letters outside positions 5-6; Cyrillic letters
    "7736-1001", "7736 1001",
])
def test_kpp_invalid(kpp: str) -> None:
    assert code_of(validate_kpp, kpp) == "kpp_format"


def test_kpp_messages() -> None:
    assert message_of(validate_kpp, "77360100") == "KPP must have 9 characters; “77360100” has 8."
    assert message_of(validate_kpp, "7736ab001") == (
        "KPP letters must be capital Latin letters: write “7736AB001” instead of “7736ab001”.")
    assert message_of(validate_kpp, "773601A01") == (
        "KPP must be 4 digits, then 2 digits or capital Latin letters, then 3 digits (for example 773601001); "
        "“773601A01” does not match.")


# ------------------------------------------------------------------------------------------- OGRN / OGRNIP


@pytest.mark.parametrize("ogrn", ["1027700132195", "1027739609391", "1027700067328"])
def test_ogrn_valid(ogrn: str) -> None:
    assert validate_ogrn(ogrn) is None
    assert validate_ogrn_any(ogrn) is None


@pytest.mark.parametrize("ogrnip", ["304500116000157", "304463210700212"])
def test_ogrnip_valid(ogrnip: str) -> None:
    assert validate_ogrnip(ogrnip) is None
    assert validate_ogrn_any(ogrnip) is None


def test_ogrn_checksum() -> None:
    assert code_of(validate_ogrn, "1027700132194") == "ogrn_checksum"
    assert code_of(validate_ogrn_any, "1027700132194") == "ogrn_checksum"
    assert message_of(validate_ogrn, "1027700132194") == (
        "OGRN 1027700132194 has a wrong check digit: the last digit should be 5.")
    assert code_of(validate_ogrnip, "304500116000158") == "ogrn_checksum"
    assert code_of(validate_ogrn_any, "304500116000158") == "ogrn_checksum"
    assert message_of(validate_ogrn_any, "304500116000158") == (
        "OGRNIP 304500116000158 has a wrong check digit: the last digit should be 7.")


def test_ogrnip_uses_modulus_13_not_11() -> None:
    # 30446321070021 mod 13 mod 10 = 2 (valid 304463210700212), mod 11 mod 10 = 0
    assert code_of(validate_ogrnip, "304463210700210") == "ogrn_checksum"
    assert code_of(validate_ogrn_any, "304463210700210") == "ogrn_checksum"


def test_ogrn_length() -> None:
    assert code_of(validate_ogrn, "304500116000157") == "ogrn_length"
    assert code_of(validate_ogrnip, "1027700132195") == "ogrn_length"
    for bad in ("", "102770013219", "10277001321950", "3045001160001570"):
        assert code_of(validate_ogrn_any, bad) == "ogrn_length"
    assert message_of(validate_ogrn_any, "10277001321950") == (
        "OGRN must have 13 digits (legal entity) or 15 digits (OGRNIP of a sole trader); “10277001321950” has 14.")
    assert message_of(validate_ogrn, "304500116000157") == (
        "OGRN of a legal entity must have 13 digits; “304500116000157” has 15.")
    assert message_of(validate_ogrnip, "1027700132195") == (
        "OGRNIP of a sole trader must have 15 digits; “1027700132195” has 13.")


@pytest.mark.parametrize("func", [validate_ogrn, validate_ogrnip, validate_ogrn_any])
def test_ogrn_non_digits(func: Callable[[str], None]) -> None:
    assert code_of(func, "102770013219X") == "ogrn_format"
    assert code_of(func, "1027700 132195") == "ogrn_format"


def test_generated_ogrns_validate() -> None:
    rng = random.Random(1027700132195)
    for _ in range(2000):
        ogrn = make_valid_ogrn(rng.choice("15") + digits(rng, 11))
        ogrnip = make_valid_ogrn("3" + digits(rng, 13))
        assert len(ogrn) == 13 and len(ogrnip) == 15
        assert validate_ogrn(ogrn) is None
        assert validate_ogrnip(ogrnip) is None
        assert validate_ogrn_any(ogrn) is None
        assert validate_ogrn_any(ogrnip) is None
    assert make_valid_ogrn("102770013219") == "1027700132195"
    assert make_valid_ogrn("30450011600015") == "304500116000157"
    for bad in ("", "10277001321", "1027700132195", "10277001321a"):
        with pytest.raises(ValueError):
            make_valid_ogrn(bad)


# --------------------------------------------------------------------------------------------------- BIK


@pytest.mark.parametrize("bik", [SBERBANK_BIK, "044525593", "044525187", "047888001", "004525988", "017003983"])
def test_bik_valid(bik: str) -> None:
    assert validate_bik(bik) is None


@pytest.mark.parametrize("bik", ["", "04452522", "0445252250", "04452522X", "0445 5225", "144525225"])
def test_bik_invalid(bik: str) -> None:
    assert code_of(validate_bik, bik) == "bik_format"


def test_bik_messages() -> None:
    assert message_of(validate_bik, "04452522") == "BIK must have 9 digits; “04452522” has 8."
    assert message_of(validate_bik, "144525225") == (
        "BIK must start with 0 (for example 044525225); “144525225” starts with 1.")
    assert message_of(validate_bik, "04452522X") == (
        "BIK must contain digits only; “04452522X” contains other characters.")


# ------------------------------------------------------------------------------------------ bank accounts


@pytest.mark.parametrize(("account", "bik"), [
    ("40702810200000012345", SBERBANK_BIK),  # examples of integrations.md section 3.3
    ("30233810200000000001", SBERBANK_BIK),
    ("40702810400000054321", "044525593"),
    ("40702810300000077777", "044525187"),
    ("40101810700000010010", "047888001"),  # account at a РКЦ BIK: keyed with "0" + BIK digits 5-6
    ("03100643000000017300", "004525988"),  # treasury account: no control key
])
def test_bank_account_valid(account: str, bik: str) -> None:
    assert validate_bank_account(account, bik) is None


def test_bank_account_checksum() -> None:
    # the account in the brief's question is not valid at Sberbank
    assert code_of(validate_bank_account, "40702810400000000001", SBERBANK_BIK) == "account_checksum"
    assert message_of(validate_bank_account, "40702810400000000001", SBERBANK_BIK) == (
        "Account 40702810400000000001 does not match BIK 044525225: the control key (9th digit) should be 2. "
        "Check the account number and the BIK.")
    # a right account with another bank's BIK
    assert code_of(validate_bank_account, "40702810200000012345", "044525593") == "account_checksum"
    # a typo in the body
    assert code_of(validate_bank_account, "40702810200000012346", SBERBANK_BIK) == "account_checksum"


def test_bank_account_rkc_bik_uses_the_correspondent_prefix() -> None:
    # keyed with the last three BIK digits ("001", the usual rule) the account would be wrong at an РКЦ BIK
    account, bik = "40101810700000010010", "047888001"
    draft = bik[-3:] + account[:8] + "0" + account[9:]
    usual_key = str(sum(int(d) * w % 10 for d, w in zip(draft, ACCOUNT_WEIGHTS, strict=True)) % 10 * 3 % 10)
    assert usual_key != account[8]
    assert code_of(validate_bank_account, account[:8] + usual_key + account[9:], bik) == "account_checksum"
    assert bank_account_with_key(bik, account) == account


def test_bank_account_length_and_format() -> None:
    assert code_of(validate_bank_account, "4070281020000001234", SBERBANK_BIK) == "account_length"
    assert code_of(validate_bank_account, "407028102000000123450", SBERBANK_BIK) == "account_length"
    assert code_of(validate_bank_account, "", SBERBANK_BIK) == "account_length"
    assert code_of(validate_bank_account, "40702 810200000012345", SBERBANK_BIK) == "account_format"
    assert code_of(validate_bank_account, "4070281020000001234X", SBERBANK_BIK) == "account_format"
    assert message_of(validate_bank_account, "4070281020000001234", SBERBANK_BIK) == (
        "A bank account must have 20 digits; “4070281020000001234” has 19.")
    assert message_of(validate_bank_account, "4070281020000001234X", SBERBANK_BIK) == (
        "A bank account must contain digits only; “4070281020000001234X” contains other characters.")


def test_bank_account_bad_bik() -> None:
    assert code_of(validate_bank_account, "40702810200000012345", "04452522") == "bik_format"


def test_bank_account_clearing_currency_letter() -> None:
    # the 6th character of clearing-currency accounts is a Cyrillic letter standing for a digit (А=0 ... Х=9)
    account = bank_account_with_key(SBERBANK_BIK, "40702К1020000001234")  # К = 5
    assert account[5] == "К"
    assert validate_bank_account(account, SBERBANK_BIK) is None
    numeric = account[:5] + "5" + account[6:]
    assert validate_bank_account(numeric, SBERBANK_BIK) is None


def test_generated_bank_accounts_validate() -> None:
    rng = random.Random(44525225)
    for _ in range(2000):
        bik = "04" + digits(rng, 7)
        body = rng.choice(["40702810", "40802810", "40817810", "30233810"]) + digits(rng, 11)
        account = bank_account_with_key(bik, body)
        assert len(account) == 20
        assert account[:8] == body[:8] and account[9:] == body[8:]
        assert validate_bank_account(account, bik) is None
        # replacing the key of a 20-digit account gives the same result
        assert bank_account_with_key(bik, account[:8] + str(rng.randrange(10)) + account[9:]) == account
        wrong = account[:8] + str((int(account[8]) + 1) % 10) + account[9:]
        assert code_of(validate_bank_account, wrong, bik) == "account_checksum"


@given(st.text(alphabet="0123456789", min_size=5, max_size=5), st.sampled_from(["000", "001", "002", "225", "988"]),
       st.sampled_from("123456789"), st.text(alphabet="0123456789", min_size=18, max_size=18))
def test_generated_account_validates_for_any_bik(bik_middle: str, bik_end: str, first: str, rest: str) -> None:
    bik = "0" + bik_middle + bik_end
    account = bank_account_with_key(bik, first + rest)  # 19 digits: the key is inserted
    assert validate_bank_account(account, bik) is None


def test_bank_account_with_key_rejects_bad_input() -> None:
    for bik, account in [("04452522", "4070281000000000001"), (SBERBANK_BIK, "407028100000000001"),
                         (SBERBANK_BIK, "40702810x000000000001"), (SBERBANK_BIK, "0310064300000001730")]:
        with pytest.raises(ValueError):
            bank_account_with_key(bik, account)


# -------------------------------------------------------------------------------- correspondent accounts


@pytest.mark.parametrize(("corr", "bik"), [
    (SBERBANK_CORR, SBERBANK_BIK),
    ("30101810200000000593", "044525593"),  # Альфа-Банк
    ("30101810700000000187", "044525187"),  # ВТБ
    ("30101810145250000974", "044525974"),  # Т-Банк
    ("40102810545370000003", "004525988"),  # single treasury account of a ТОФК BIK
    ("40102810045370000002", "024501901"),
    ("40102810445370000059", "017003983"),
])
def test_corr_account_valid(corr: str, bik: str) -> None:
    assert validate_corr_account(corr, bik) is None


def test_corr_account_is_not_keyed_like_a_settlement_account() -> None:
    assert code_of(validate_bank_account, SBERBANK_CORR, SBERBANK_BIK) == "account_checksum"
    settlement_style = bank_account_with_key(SBERBANK_BIK, SBERBANK_CORR)
    assert code_of(validate_corr_account, settlement_style, SBERBANK_BIK) == "account_checksum"


def test_corr_account_errors() -> None:
    assert code_of(validate_corr_account, "30101810400000000226", SBERBANK_BIK) == "corr_account_bik"
    assert message_of(validate_corr_account, "30101810200000000593", SBERBANK_BIK) == (
        "Correspondent account 30101810200000000593 does not match BIK 044525225: it must end with 225, "
        "the last three digits of the BIK.")
    assert code_of(validate_corr_account, "30101810500000000225", SBERBANK_BIK) == "account_checksum"
    assert message_of(validate_corr_account, "30101810500000000225", SBERBANK_BIK) == (
        "Correspondent account 30101810500000000225 does not match BIK 044525225: the control key (9th digit) "
        "should be 4. Check the account number and the BIK.")
    assert code_of(validate_corr_account, "40702810200000012345", SBERBANK_BIK) == "corr_account_prefix"
    assert code_of(validate_corr_account, "3010181040000000022", SBERBANK_BIK) == "account_length"
    assert code_of(validate_corr_account, "3010181040000000022X", SBERBANK_BIK) == "account_format"
    assert code_of(validate_corr_account, SBERBANK_CORR, "144525225") == "bik_format"
    assert message_of(validate_corr_account, "3010181040000000022", SBERBANK_BIK) == (
        "A correspondent account must have 20 digits; “3010181040000000022” has 19.")


def test_generated_corr_accounts_validate() -> None:
    rng = random.Random(30101)
    for _ in range(1000):
        bik = "04" + digits(rng, 4) + rng.choice(["0", "1", "2", "5", "9"]) + digits(rng, 2)
        corr = bank_account_with_key(bik, "30101810" + digits(rng, 8) + bik[-3:], correspondent=True)
        assert validate_corr_account(corr, bik) is None


# ---------------------------------------------------------------------------------- model-field validators


@pytest.mark.parametrize("func", [validate_inn, validate_inn_legal, validate_inn_individual, validate_kpp,
                                  validate_ogrn, validate_ogrnip, validate_ogrn_any, validate_bik])
def test_field_validators_are_plain_module_functions(func: Callable[[str], None]) -> None:
    # migrations serialize validators by their import path
    assert func.__module__ == "torg.core.validators"
    assert "<" not in func.__qualname__


def test_long_garbage_is_shortened_in_messages() -> None:
    message = message_of(validate_inn, "1" * 500)
    assert "1" * 39 + "…" in message and "1" * 41 not in message
    assert message.endswith("has 500.")


@pytest.mark.parametrize(("body", "check"), [
    ("460123456789", 3),   # EAN-13 4601234567893
    ("400638133393", 1),   # EAN-13 4006381333931, the textbook example
    ("9638507", 4),        # EAN-8 96385074
    ("03600029145", 2),    # UPC-A 036000291452
])
def test_gtin_check_digit_known_values(body: str, check: int) -> None:
    assert gtin_check_digit(body) == check


@pytest.mark.parametrize("body", ["", "123", "46012345678x", "4601234567890123"])
def test_gtin_check_digit_refuses_a_wrong_body(body: str) -> None:
    with pytest.raises(ValueError):
        gtin_check_digit(body)
