#!/bin/sh
# One-shot job: create the artifact bucket on the S3 server if it is missing.
# Runs in the curlimages/curl image; the request is signed with SigV4 by curl
# itself (--aws-sigv4), as scripts/services does for the test rig, so no AWS CLI
# or MinIO client image is needed. Safe to run again: an existing bucket is kept.
set -eu

: "${S3_ENDPOINT:?set S3_ENDPOINT}"
: "${S3_BUCKET:?set S3_BUCKET}"
: "${S3_REGION:?set S3_REGION}"
: "${S3_ACCESS_KEY:?set S3_ACCESS_KEY}"
: "${S3_SECRET_KEY:?set S3_SECRET_KEY}"

url="${S3_ENDPOINT%/}/${S3_BUCKET}"
# The credentials go to curl through a config file on stdin, not argv, so they
# do not show up in the process list.
s3curl() {
	printf 'user = "%s:%s"\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" |
		curl -sS -K - --aws-sigv4 "aws:amz:${S3_REGION}:s3" \
			-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

code=$(s3curl -o /dev/null -w '%{http_code}' -I "$url")
if [ "$code" = 200 ]; then
	echo "s3-init: bucket ${S3_BUCKET} already exists"
	exit 0
fi

body=$(mktemp)
code=$(s3curl -o "$body" -w '%{http_code}' -X PUT "$url")
case $code in
200) echo "s3-init: created bucket ${S3_BUCKET}" ;;
409)
	if grep -q BucketAlreadyOwnedByYou "$body"; then
		echo "s3-init: bucket ${S3_BUCKET} already exists"
	else
		cat "$body" >&2
		echo "s3-init: create bucket ${S3_BUCKET}: HTTP 409" >&2
		exit 1
	fi
	;;
*)
	cat "$body" >&2
	echo "s3-init: create bucket ${S3_BUCKET}: HTTP ${code}" >&2
	exit 1
	;;
esac
