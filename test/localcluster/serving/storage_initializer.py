"""The local cluster's storage initializer: copies a model from S3 into the predictor's volume.

It stands in for KServe's storage-initializer image with its arguments (SOURCE_URI DEST_DIR)
and the environment KServe gives it from the service account's S3 secret: AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY by reference, S3_ENDPOINT or AWS_ENDPOINT_URL, S3_USE_HTTPS,
AWS_REGION. An s3:// URI is a prefix, copied with the key paths below it, or one object.
"""
import os
import sys

import boto3


def endpoint():
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    host = os.environ.get("S3_ENDPOINT")
    if not host:
        return None
    if "://" in host:
        return host
    return ("http://" if os.environ.get("S3_USE_HTTPS") == "0" else "https://") + host


def copy(s3, bucket, key, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    s3.download_file(bucket, key, target)
    print(f"copied s3://{bucket}/{key} to {target}", flush=True)


def main():
    if len(sys.argv) != 3 or not sys.argv[1].startswith("s3://"):
        sys.exit("usage: storage_initializer.py s3://BUCKET/PREFIX DEST_DIR")
    uri, dest = sys.argv[1], sys.argv[2]
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    s3 = boto3.client("s3", endpoint_url=endpoint(), region_name=region)
    copied = 0
    below = prefix.rstrip("/") + "/" if prefix else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=below):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(below):]
            if rel and not rel.endswith("/"):
                copy(s3, bucket, obj["Key"], os.path.join(dest, rel))
                copied += 1
    if copied == 0 and prefix:
        try:
            s3.head_object(Bucket=bucket, Key=prefix)
        except s3.exceptions.ClientError:
            pass
        else:
            copy(s3, bucket, prefix, os.path.join(dest, os.path.basename(prefix)))
            copied = 1
    if copied == 0:
        sys.exit(f"storage-initializer: nothing at {uri}")


if __name__ == "__main__":
    main()
