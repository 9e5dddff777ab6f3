"""Validation of Russian requisites: INN, KPP, OGRN/OGRNIP, BIK, bank and correspondent accounts.

Algorithms follow docs `integrations.md` section 6 (1C:Standard Subsystems Library regulated-data checks and the
Bank of Russia account control-key procedure).

Every ``validate_*`` function returns ``None`` or raises ``django.core.exceptions.ValidationError`` with a stable
``code`` (see `RequisiteCode`; tests assert it) and a translatable message that says what is wrong and what would
be right. The one-argument validators (`validate_inn`, `validate_inn_legal`, `validate_inn_individual`,
`validate_kpp`, `validate_ogrn`, `validate_ogrnip`, `validate_ogrn_any`, `validate_bik`) can be put into
``validators=[...]`` of a model or form field; Django does not run field validators on empty values, so blank
fields stay allowed. Accounts need the BIK, so `validate_bank_account` and `validate_corr_account` are called from a
model's or form's ``clean()``.

The generator helpers (`inn_check_digits`, `make_valid_inn`, `make_valid_ogrn`, `bank_account_with_key`) build valid
numbers for demo data; they raise ``ValueError`` on malformed input because only programs call them.
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Final, Literal

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

InnKind = Literal["legal", "individual"]


class RequisiteCode(StrEnum):
    """Codes of `ValidationError` raised by this module (the error carries the plain string value)."""

    INN_FORMAT = "inn_format"  # characters other than digits 0-9
    INN_LENGTH = "inn_length"  # not 10/12 digits, or not the length the kind requires
    INN_CHECKSUM = "inn_checksum"
    KPP_FORMAT = "kpp_format"
    OGRN_FORMAT = "ogrn_format"  # also for OGRNIP
    OGRN_LENGTH = "ogrn_length"
    OGRN_CHECKSUM = "ogrn_checksum"
    BIK_FORMAT = "bik_format"  # every BIK error: not 9 digits or not starting with 0
    ACCOUNT_FORMAT = "account_format"
    ACCOUNT_LENGTH = "account_length"
    ACCOUNT_CHECKSUM = "account_checksum"
    CORR_ACCOUNT_PREFIX = "corr_account_prefix"  # a correspondent account starts neither with 30101 nor 40102
    CORR_ACCOUNT_BIK = "corr_account_bik"  # a 30101 account does not end with the last three digits of the BIK


INN10_WEIGHTS: Final = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_1: Final = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_2: Final = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
ACCOUNT_WEIGHTS: Final = (7, 1, 3) * 7 + (7, 1)  # over 23 digits: 3-digit BIK part + 20-digit account
ACCOUNT_KEY_INDEX: Final = 8  # the control key is the 9th digit of an account

# BIKs of Bank of Russia divisions (РКЦ) end with these digits; their accounts are keyed like correspondent ones.
RKC_BIK_ENDINGS: Final = frozenset({"000", "001", "002"})
CORR_ACCOUNT_BANK: Final = "30101"  # correspondent account of a credit institution in the Bank of Russia
CORR_ACCOUNT_TREASURY: Final = "40102"  # single treasury account (ЕКС), the "correspondent account" of a ТОФК BIK

# The 6th character of clearing-currency accounts may be one of these Cyrillic letters; it counts as the digit.
_CLEARING_LETTERS: Final = dict(zip("АВСЕНКМРТХ", "0123456789", strict=True))

_DIGITS = re.compile(r"[0-9]+")
_KPP = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")
_SHOWN_MAX = 40


def _is_digits(value: str) -> bool:
    """Only ASCII digits (``str.isdigit`` would also accept superscripts and other scripts' digits)."""
    return _DIGITS.fullmatch(value) is not None


def _shown(value: str) -> str:
    """The value as quoted in a message, shortened if someone pasted a whole paragraph."""
    return value if len(value) <= _SHOWN_MAX else value[: _SHOWN_MAX - 1] + "…"


def _fail(code: RequisiteCode, message: str | Promise, **params: object) -> ValidationError:
    return ValidationError(message, code=code.value, params=params)


# ---------------------------------------------------------------------------------------------------------------
# INN
# ---------------------------------------------------------------------------------------------------------------


def _weighted_check_digit(digits: str, weights: tuple[int, ...]) -> str:
    """Weighted sum mod 11 mod 10 (a remainder of 10 gives 0)."""
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10)


def inn_check_digits(first_digits: str) -> str:
    """The check digits that complete an INN.

    9 digits (legal entity) -> 1 check digit; 10 digits (sole trader or person) -> 2 check digits.
    ``first_digits + inn_check_digits(first_digits)`` is a valid INN.
    """
    if not _is_digits(first_digits) or len(first_digits) not in (9, 10):
        raise ValueError(f"INN prefix must have 9 (legal entity) or 10 (person) digits, got {first_digits!r}")
    if len(first_digits) == 9:
        return _weighted_check_digit(first_digits, INN10_WEIGHTS)
    eleventh = _weighted_check_digit(first_digits, INN12_WEIGHTS_1)
    return eleventh + _weighted_check_digit(first_digits + eleventh, INN12_WEIGHTS_2)


def make_valid_inn(first_digits: str) -> str:
    """A full valid INN from its first 9 (-> 10-digit INN) or 10 (-> 12-digit INN) digits."""
    return first_digits + inn_check_digits(first_digits)


def validate_inn(value: str, kind: InnKind | None = None) -> None:
    """INN: 10 digits (legal entity) or 12 digits (sole trader or person), all check digits right.

    ``kind="legal"`` requires 10 digits, ``kind="individual"`` 12 digits.
    """
    if kind not in (None, "legal", "individual"):
        raise ValueError(f"kind must be 'legal', 'individual' or None, got {kind!r}")
    shown = _shown(value)
    if value and not _is_digits(value):
        raise _fail(RequisiteCode.INN_FORMAT,
                    _("INN must contain digits only; “%(value)s” contains other characters."), value=shown)
    length = len(value)
    if kind == "legal" and length != 10:
        raise _fail(RequisiteCode.INN_LENGTH,
                    _("INN of a legal entity must have 10 digits; “%(value)s” has %(length)d."),
                    value=shown, length=length)
    if kind == "individual" and length != 12:
        raise _fail(RequisiteCode.INN_LENGTH,
                    _("INN of a sole trader or a person must have 12 digits; “%(value)s” has %(length)d."),
                    value=shown, length=length)
    if length not in (10, 12):
        raise _fail(RequisiteCode.INN_LENGTH,
                    _("INN must have 10 digits (legal entity) or 12 digits (sole trader or person); "
                      "“%(value)s” has %(length)d."),
                    value=shown, length=length)
    body = length - 1 if length == 10 else length - 2
    given, expected = value[body:], inn_check_digits(value[:body])
    if given == expected:
        return None
    if length == 12 and given[0] != expected[0]:
        raise _fail(RequisiteCode.INN_CHECKSUM,
                    _("INN %(value)s has wrong check digits: the last two digits should be %(expected)s."),
                    value=value, expected=expected)
    raise _fail(RequisiteCode.INN_CHECKSUM,
                _("INN %(value)s has a wrong check digit: the last digit should be %(expected)s."),
                value=value, expected=expected[-1])


def validate_inn_legal(value: str) -> None:
    """Field validator: INN of a legal entity (10 digits)."""
    validate_inn(value, kind="legal")


def validate_inn_individual(value: str) -> None:
    """Field validator: INN of a sole trader or a person (12 digits)."""
    validate_inn(value, kind="individual")


# ---------------------------------------------------------------------------------------------------------------
# KPP
# ---------------------------------------------------------------------------------------------------------------


def validate_kpp(value: str) -> None:
    """KPP: 4 digits (tax office), 2 digits or capital Latin letters (reason), 3 digits. No checksum."""
    shown = _shown(value)
    if len(value) != 9:
        raise _fail(RequisiteCode.KPP_FORMAT, _("KPP must have 9 characters; “%(value)s” has %(length)d."),
                    value=shown, length=len(value))
    if _KPP.fullmatch(value) is not None:
        return None
    if _KPP.fullmatch(value.upper()) is not None:
        raise _fail(RequisiteCode.KPP_FORMAT,
                    _("KPP letters must be capital Latin letters: write “%(suggestion)s” instead of “%(value)s”."),
                    value=shown, suggestion=value.upper())
    raise _fail(RequisiteCode.KPP_FORMAT,
                _("KPP must be 4 digits, then 2 digits or capital Latin letters, then 3 digits "
                  "(for example 773601001); “%(value)s” does not match."),
                value=shown)


# ---------------------------------------------------------------------------------------------------------------
# OGRN / OGRNIP
# ---------------------------------------------------------------------------------------------------------------


def _ogrn_check_digit(first_digits: str) -> str:
    """OGRN: first 12 digits mod 11 mod 10; OGRNIP: first 14 digits mod 13 mod 10."""
    modulus = 11 if len(first_digits) == 12 else 13
    return str(int(first_digits) % modulus % 10)


def make_valid_ogrn(first_digits: str) -> str:
    """A full valid OGRN from its first 12 digits (13 digits), or OGRNIP from its first 14 digits (15 digits)."""
    if not _is_digits(first_digits) or len(first_digits) not in (12, 14):
        raise ValueError(f"OGRN prefix must have 12 (OGRN) or 14 (OGRNIP) digits, got {first_digits!r}")
    return first_digits + _ogrn_check_digit(first_digits)


def _check_ogrn_digits(value: str) -> None:
    if value and not _is_digits(value):
        raise _fail(RequisiteCode.OGRN_FORMAT,
                    _("OGRN must contain digits only; “%(value)s” contains other characters."), value=_shown(value))


def _check_ogrn_sum(value: str, message: str | Promise) -> None:
    expected = _ogrn_check_digit(value[:-1])
    if value[-1] != expected:
        raise _fail(RequisiteCode.OGRN_CHECKSUM, message, value=value, expected=expected)


def validate_ogrn(value: str) -> None:
    """OGRN of a legal entity: 13 digits, the last = (first 12 as a number) mod 11 mod 10."""
    _check_ogrn_digits(value)
    if len(value) != 13:
        raise _fail(RequisiteCode.OGRN_LENGTH,
                    _("OGRN of a legal entity must have 13 digits; “%(value)s” has %(length)d."),
                    value=_shown(value), length=len(value))
    _check_ogrn_sum(value, _("OGRN %(value)s has a wrong check digit: the last digit should be %(expected)s."))


def validate_ogrnip(value: str) -> None:
    """OGRNIP of a sole trader: 15 digits, the last = (first 14 as a number) mod 13 mod 10."""
    _check_ogrn_digits(value)
    if len(value) != 15:
        raise _fail(RequisiteCode.OGRN_LENGTH,
                    _("OGRNIP of a sole trader must have 15 digits; “%(value)s” has %(length)d."),
                    value=_shown(value), length=len(value))
    _check_ogrn_sum(value, _("OGRNIP %(value)s has a wrong check digit: the last digit should be %(expected)s."))


def validate_ogrn_any(value: str) -> None:
    """OGRN (13 digits) or OGRNIP (15 digits), chosen by length."""
    _check_ogrn_digits(value)
    if len(value) == 13:
        return validate_ogrn(value)
    if len(value) == 15:
        return validate_ogrnip(value)
    raise _fail(RequisiteCode.OGRN_LENGTH,
                _("OGRN must have 13 digits (legal entity) or 15 digits (OGRNIP of a sole trader); "
                  "“%(value)s” has %(length)d."),
                value=_shown(value), length=len(value))


# ---------------------------------------------------------------------------------------------------------------
# BIK
# ---------------------------------------------------------------------------------------------------------------


def validate_bik(value: str) -> None:
    """BIK: 9 digits starting with 0. No check digit (only the Bank of Russia directory can confirm it exists)."""
    shown = _shown(value)
    if value and not _is_digits(value):
        raise _fail(RequisiteCode.BIK_FORMAT,
                    _("BIK must contain digits only; “%(value)s” contains other characters."), value=shown)
    if len(value) != 9:
        raise _fail(RequisiteCode.BIK_FORMAT, _("BIK must have 9 digits; “%(value)s” has %(length)d."),
                    value=shown, length=len(value))
    if value[0] != "0":
        raise _fail(RequisiteCode.BIK_FORMAT,
                    _("BIK must start with 0 (for example 044525225); “%(value)s” starts with %(first)s."),
                    value=shown, first=value[0])
    return None


# ---------------------------------------------------------------------------------------------------------------
# Bank accounts
# ---------------------------------------------------------------------------------------------------------------


def _account_digits(account: str) -> str:
    """The account with a clearing-currency letter in the 6th position replaced by its digit."""
    if len(account) > 5 and account[5] in _CLEARING_LETTERS:
        return account[:5] + _CLEARING_LETTERS[account[5]] + account[6:]
    return account


def _is_rkc_bik(bik: str) -> bool:
    return bik[6:9] in RKC_BIK_ENDINGS


def _bik_part(bik: str, correspondent: bool) -> str:
    """The 3 digits put before the account: "0" + BIK digits 5-6 for correspondent accounts and accounts in a
    Bank of Russia division (РКЦ), otherwise the last 3 digits of the BIK."""
    if correspondent or _is_rkc_bik(bik):
        return "0" + bik[4:6]
    return bik[6:9]


def _account_key(bik: str, digits: str, correspondent: bool) -> str:
    """The control key (9th digit) that makes a 20-digit account valid with this BIK."""
    draft = _bik_part(bik, correspondent) + digits[:ACCOUNT_KEY_INDEX] + "0" + digits[ACCOUNT_KEY_INDEX + 1:]
    total = sum(int(d) * w % 10 for d, w in zip(draft, ACCOUNT_WEIGHTS, strict=True))
    # The key's weight is 3 and 3 * 7 = 21 = 1 (mod 10), so key = 7 * (-total) = 3 * total (mod 10).
    return str(total % 10 * 3 % 10)


def _is_treasury_account(digits: str) -> bool:
    """Treasury accounts (казначейские счета, 03...) carry the currency code where a key would be: no key check."""
    return digits.startswith("0")


def bank_account_with_key(bik: str, account: str, *, correspondent: bool = False) -> str:
    """A 20-digit account with the right control key for this BIK.

    ``account`` has 19 digits (the key is inserted as the 9th digit) or 20 digits (the 9th digit is replaced).
    ``correspondent=True`` keys a correspondent account (30101...); accounts at an РКЦ BIK are keyed the same way
    automatically. A clearing-currency letter in the 6th position is kept.
    """
    if not _is_digits(bik) or len(bik) != 9:
        raise ValueError(f"BIK must have 9 digits, got {bik!r}")
    if len(account) == 19:
        account = account[:ACCOUNT_KEY_INDEX] + "0" + account[ACCOUNT_KEY_INDEX:]
    digits = _account_digits(account)
    if len(digits) != 20 or not _is_digits(digits):
        raise ValueError(f"account must have 19 digits (without key) or 20 digits, got {account!r}")
    if _is_treasury_account(digits):
        raise ValueError(f"treasury accounts (starting with 0) have no control key, got {account!r}")
    key = _account_key(bik, digits, correspondent)
    return account[:ACCOUNT_KEY_INDEX] + key + account[ACCOUNT_KEY_INDEX + 1:]


def _check_account_shape(account: str, *, correspondent: bool) -> str:
    """Digits and length of an account; returns its digits (clearing letter replaced)."""
    shown = _shown(account)
    digits = _account_digits(account)
    if digits and not _is_digits(digits):
        message = (_("A correspondent account must contain digits only; “%(value)s” contains other characters.")
                   if correspondent else
                   _("A bank account must contain digits only; “%(value)s” contains other characters."))
        raise _fail(RequisiteCode.ACCOUNT_FORMAT, message, value=shown)
    if len(digits) != 20:
        message = (_("A correspondent account must have 20 digits; “%(value)s” has %(length)d.")
                   if correspondent else _("A bank account must have 20 digits; “%(value)s” has %(length)d."))
        raise _fail(RequisiteCode.ACCOUNT_LENGTH, message, value=shown, length=len(digits))
    return digits


def validate_bank_account(account: str, bik: str) -> None:
    """Settlement (or any client) account: 20 digits whose control key (9th digit) matches the bank's BIK.

    The key is computed over "last 3 digits of the BIK" + account with weights 7-1-3; for a BIK of a Bank of Russia
    division (ending with 000, 001, 002) the prefix is "0" + BIK digits 5-6. Treasury accounts (03...) have no key.
    An invalid BIK raises ``bik_format``.
    """
    validate_bik(bik)
    digits = _check_account_shape(account, correspondent=False)
    if _is_treasury_account(digits):
        return None
    expected = _account_key(bik, digits, correspondent=False)
    if digits[ACCOUNT_KEY_INDEX] != expected:
        raise _fail(RequisiteCode.ACCOUNT_CHECKSUM,
                    _("Account %(value)s does not match BIK %(bik)s: the control key (9th digit) should be "
                      "%(expected)s. Check the account number and the BIK."),
                    value=account, bik=bik, expected=expected)
    return None


def validate_corr_account(corr: str, bik: str) -> None:
    """Correspondent account of the bank with this BIK.

    30101... (a credit institution's account in the Bank of Russia) must end with the last 3 digits of the BIK;
    40102... is the single treasury account given as the correspondent account of a treasury (ТОФК) BIK. Both are
    keyed with "0" + BIK digits 5-6. An invalid BIK raises ``bik_format``.
    """
    validate_bik(bik)
    digits = _check_account_shape(corr, correspondent=True)
    if not digits.startswith((CORR_ACCOUNT_BANK, CORR_ACCOUNT_TREASURY)):
        raise _fail(RequisiteCode.CORR_ACCOUNT_PREFIX,
                    _("A correspondent account must start with 30101 (a bank's account in the Bank of Russia) or "
                      "40102 (the single treasury account); “%(value)s” starts with %(prefix)s."),
                    value=corr, prefix=corr[:5])
    if digits.startswith(CORR_ACCOUNT_BANK) and digits[-3:] != bik[-3:]:
        raise _fail(RequisiteCode.CORR_ACCOUNT_BIK,
                    _("Correspondent account %(value)s does not match BIK %(bik)s: it must end with %(expected)s, "
                      "the last three digits of the BIK."),
                    value=corr, bik=bik, expected=bik[-3:])
    expected = _account_key(bik, digits, correspondent=True)
    if digits[ACCOUNT_KEY_INDEX] != expected:
        raise _fail(RequisiteCode.ACCOUNT_CHECKSUM,
                    _("Correspondent account %(value)s does not match BIK %(bik)s: the control key (9th digit) "
                      "should be %(expected)s. Check the account number and the BIK."),
                    value=corr, bik=bik, expected=expected)
    return None


def gtin_check_digit(body: str) -> int:
    """The check digit of a GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) given the digits before it.

    Weights alternate 3, 1, 3, … from the right of the body.
    """
    if not _is_digits(body) or len(body) not in (7, 11, 12, 13):
        raise ValueError(f"a GTIN body has 7, 11, 12 or 13 digits, got {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


__all__ = [
    "ACCOUNT_WEIGHTS",
    "INN10_WEIGHTS",
    "INN12_WEIGHTS_1",
    "INN12_WEIGHTS_2",
    "InnKind",
    "RequisiteCode",
    "bank_account_with_key",
    "gtin_check_digit",
    "inn_check_digits",
    "make_valid_inn",
    "make_valid_ogrn",
    "validate_bank_account",
    "validate_bik",
    "validate_corr_account",
    "validate_inn",
    "validate_inn_individual",
    "validate_inn_legal",
    "validate_kpp",
    "validate_ogrn",
    "validate_ogrn_any",
    "validate_ogrnip",
]
