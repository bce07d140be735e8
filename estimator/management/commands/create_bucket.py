"""``python manage.py create_bucket``: the object store's bucket for photos, created if missing.

Idempotent, so compose's migrate service and the Kubernetes migrate job run it on every
deploy. On the local filesystem (no AWS_STORAGE_BUCKET_NAME) there is nothing to create. The
bucket is created private (S3's default); objects are written without an ACL (AWS_DEFAULT_ACL).
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the bucket named by AWS_STORAGE_BUCKET_NAME if it does not exist yet."

    def handle(self, *args: Any, **options: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        from storages.backends.s3 import S3Storage

        storage = storages["default"]
        if not isinstance(storage, S3Storage):
            self.stdout.write("Photos are stored under MEDIA_ROOT: there is no bucket to create.")
            return
        client, bucket = storage.connection.meta.client, storage.bucket_name
        try:
            if _exists(client, bucket):
                self.stdout.write(f"The bucket {bucket} exists.")
                return
            region = storage.region_name
            config = (
                {"CreateBucketConfiguration": {"LocationConstraint": region}}
                if region not in {None, "us-east-1"}
                else {}
            )
            client.create_bucket(Bucket=bucket, **config)
        except (BotoCoreError, ClientError) as error:
            raise CommandError(
                f"Could not create the bucket {bucket} at {storage.endpoint_url or 'AWS'}: {error}"
            ) from None
        self.stdout.write(f"Created the bucket {bucket}.")


def _exists(client: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchBucket"}:
            return False
        raise
    return True
