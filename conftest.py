"""Project-wide pytest set-up: compiled translations, browser launch arguments for Debian's Chromium."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": CHROMIUM_ARGS,
    }


def pytest_configure(config: pytest.Config) -> None:
    """Hash the test users' passwords with a fast hasher; compile the translations (.po → .mo, only those that
    changed), as `make messages` does, so that `pytest` run directly sees the current catalogs. The .mo files are
    build output, not in git. Only the main process compiles: xdist workers start after it and read the result."""
    _fast_password_hashing()
    if hasattr(config, "workerinput"):
        return
    script = Path(__file__).resolve().parent / "scripts" / "compile_messages.py"
    spec = importlib.util.spec_from_file_location("compile_messages", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.main(quiet=True) != 0:
        raise pytest.UsageError("the translations do not compile: run `make messages` to see why")
    # pytest-django has set Django up already, and that read the catalogues: have them read again.
    import django.test.signals  # noqa: F401 — its receiver drops the cached catalogues
    from django.conf import settings
    from django.core.signals import setting_changed

    setting_changed.send(sender=type(settings), setting="LOCALE_PATHS", value=settings.LOCALE_PATHS, enter=False)


def _fast_password_hashing() -> None:
    """Tests create hundreds of users: PBKDF2's million rounds (0.3 s a password here) took most of the suite's
    time. What is tested is who may do what, not the hash, so the tests hash with MD5; the settings keep PBKDF2."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers, get_hashers_by_algorithm

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    get_hashers_by_algorithm.cache_clear()
