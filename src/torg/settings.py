"""Settings for torg.

Embedded default: SQLite in var/ (WAL, IMMEDIATE transactions).
Production: set DATABASE_URL=postgres://... (and DJANGO_SECRET_KEY, DJANGO_DEBUG=0).
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

SRC_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = SRC_DIR.parent
VAR_DIR = Path(os.environ.get("TORG_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "torg-demo-secret-key-change-me-in-production-0123456789")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "torg.core",
    "torg.catalogs",
    "torg.stock",
    "torg.sales",
    "torg.payments",
    "torg.fiscal",
    "torg.delivery",
    "torg.reports",
    "torg.printing",
    "torg.api",
    "torg.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "torg.urls"
WSGI_APPLICATION = "torg.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "torg.web.context_processors.navigation",
            ],
        },
    },
]

_default_sqlite = f"sqlite:///{VAR_DIR / 'torg.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default_sqlite), conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue up instead of failing; every atomic block takes the write lock up front.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    _test_name = os.environ.get("TORG_SQLITE_TEST_NAME")
    if _test_name:
        DATABASES["default"]["TEST"] = {"NAME": _test_name}
_test_url = os.environ.get("TORG_TEST_DATABASE_URL")
if _test_url:
    DATABASES["default"] = dj_database_url.parse(_test_url)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and os.environ.get("TORG_PG_PREPARED", "1") == "1":
    # Statements a process sends again and again (posting sends the same ones for every document) are parsed once
    # per connection, and planned once too where PostgreSQL finds the plan fit for any values (its default,
    # plan_cache_mode=auto; that needs the statistics autovacuum keeps — core/DESIGN.md). Behind a connection
    # pooler in transaction mode (PgBouncer), which does not carry prepared statements across transactions, set
    # TORG_PG_PREPARED=0; TORG_PG_PLAN_CACHE_MODE=force_custom_plan plans every execution for its values.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
    if os.environ.get("TORG_PG_PLAN_CACHE_MODE"):
        DATABASES["default"]["OPTIONS"]["options"] = "-c plan_cache_mode=" + os.environ["TORG_PG_PLAN_CACHE_MODE"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A document form posts about 5 fields per line; a stock count of a whole warehouse has thousands of lines.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 50_000

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 6}},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_ENGINE = "django.contrib.sessions.backends.db"

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [SRC_DIR / "torg" / "locale"]
TIME_ZONE = os.environ.get("TORG_TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # filled by collectstatic; in development whitenoise serves from the apps
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"

EMAIL_BACKEND = os.environ.get("TORG_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TORG_LOG_LEVEL", "WARNING")},
    "loggers": {
        "torg": {"handlers": ["console"], "level": os.environ.get("TORG_LOG_LEVEL", "INFO"), "propagate": False},
    },
}

# Screenshots of browser tests.
SCREENSHOT_DIR = VAR_DIR / "screenshots"
