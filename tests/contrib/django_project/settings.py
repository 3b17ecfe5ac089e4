"""A minimal Django project for the edgeclaims integration tests (tests/contrib/test_django.py)."""

from __future__ import annotations

from contrib_tables import contrib_mapping

SECRET_KEY = "edgeclaims-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["app.example.com", "evil.example.com", "testserver"]
USE_TZ = True
ROOT_URLCONF = "django_project.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "edgeclaims.contrib.django",
]
MIDDLEWARE = [
    "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# The [edgeclaims] table, as a mapping (a TOML path would do too).
EDGECLAIMS = contrib_mapping()
