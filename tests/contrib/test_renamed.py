"""Names renamed for clarity still work, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import os

import pytest
from contrib_tables import framework

framework("flask")
framework("fastapi")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")  # as test_django
framework("django").setup()


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("edgeclaims.contrib.flask", "permission_required", "permissions_required"),
        ("edgeclaims.contrib.django.decorators", "permission_required", "permissions_required"),
        ("edgeclaims.contrib.django.mixins", "PermissionRequiredMixin", "PermissionsRequiredMixin"),
        ("edgeclaims.contrib.django.middleware", "problem_response", "refusal_response"),
        ("edgeclaims.contrib.fastapi", "problem_response", "refusal_handler"),
    ],
)
def test_old_names_still_work_with_a_warning(module: str, old: str, new: str) -> None:
    loaded = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{module}.{old} is now {new}"):
        assert getattr(loaded, old) is getattr(loaded, new)
    with pytest.raises(AttributeError):
        loaded.no_such_name
