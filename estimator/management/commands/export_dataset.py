"""``python manage.py export_dataset OUT_DIR``: the reviewed faces as a data set for ml/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from estimator.feedback.export import dataset_export
from estimator.management.who import os_user


class Command(BaseCommand):
    help = (
        "Write every accepted, consented, not withdrawn face with an age to OUT_DIR as <age>_<id>.jpg plus "
        "manifest.jsonl and release.json, and record the data-set release."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out_dir", help="an empty folder, or one holding an earlier export (it is replaced)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            release = dataset_export(out_dir=Path(options["out_dir"]), created_by=os_user())
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(
            f"Release {release.pk}: {release.count} face(s) written to {options['out_dir']} "
            f"(manifest sha256 {release.content_hash})."
        )
