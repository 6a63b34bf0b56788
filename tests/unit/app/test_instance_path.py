"""The instance folder an application is given is the one it uses (uploads are staged below it)."""

from __future__ import annotations

import base64

from app import create_app
from config import TestConfig

KEK = base64.b64encode(bytes(32)).decode()


def test_an_instance_path_override_is_the_applications_instance_folder(tmp_path):
    application = create_app(TestConfig, INSTANCE_PATH=str(tmp_path), SQLALCHEMY_DATABASE_URI="sqlite://",
                             KEY_ENCRYPTION_KEY=KEK)
    assert application.instance_path == str(tmp_path)


def test_an_instance_path_in_a_config_dict_is_used_too(tmp_path):
    application = create_app({"INSTANCE_PATH": str(tmp_path), "TESTING": True, "SECRET_KEY": "x",
                              "KEY_ENCRYPTION_KEY": KEK, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert application.instance_path == str(tmp_path)
