"""``python manage.py model add DIR | list | shadow VERSION | shadow --off | promote VERSION | rollback``.

Model versions while the site runs: every web server and worker follows a change within
``AGEWEB_MODEL_VERSION_TTL`` seconds, without a restart (README: "Model versions").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from estimator.management.who import os_user
from estimator.models import ModelVersion
from estimator.versions.selectors import model_version_list
from estimator.versions.services import (
    model_version_promote,
    model_version_register,
    model_version_rollback,
    model_version_shadow,
)

NO_SHADOW = "No shadow: new uploads are scored by the active version only."


class Command(BaseCommand):
    help = "Register, list, shadow, promote and roll back model versions (one line per version)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list,shadow,promote,rollback}")
        add = actions.add_parser("add", help="register a trained model folder; prints its version")
        add.add_argument("folder", help="what ml.training.train exports: meta.json, model.tflite, model.keras")
        actions.add_parser("list", help="print VERSION STATE, one line per version, oldest first")
        shadow = actions.add_parser("shadow", help="score every new upload's faces with VERSION too, never shown")
        which = shadow.add_mutually_exclusive_group(required=True)
        which.add_argument("version", nargs="?")
        which.add_argument("--off", action="store_true", help="stop the shadow")
        promote = actions.add_parser("promote", help="make VERSION the active version")
        promote.add_argument("version")
        actions.add_parser("rollback", help="return to the version active before the active one")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            lines = _run(options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        for line in lines:
            self.stdout.write(line)


def _run(options: dict[str, Any]) -> list[str]:
    action = options["action"]
    if action == "add":
        return [model_version_register(folder=Path(options["folder"]), registered_by=os_user()).version]
    if action == "list":
        return [_line(version) for version in model_version_list()]
    if action == "shadow":
        shadow = model_version_shadow(version=None if options["off"] else options["version"])
        return [_line(shadow)] if shadow else [NO_SHADOW]
    if action == "promote":
        return [_line(model_version_promote(version=options["version"]))]
    return [_line(model_version_rollback())]


def _line(version: ModelVersion) -> str:
    return f"{version.version} {version.state}"
