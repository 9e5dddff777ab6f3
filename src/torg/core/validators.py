# TEMPORARY placeholder: being written by a helper.
def validate_inn(value, kind=None): pass
def validate_kpp(value): pass
def validate_ogrn_any(value): pass
def validate_bik(value): pass
def validate_bank_account(account, bik): pass
