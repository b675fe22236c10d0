#!/bin/sh
# Builds the Versity S3 Gateway that package s3test starts in the tests,
# from the Go module proxy at the pinned release, into
# ${CAUCUS_TOOLS:-~/.cache/caucus-tools}/versitygw-VERSION (s3test.Dir).
# Nothing is done when it is there already. Keep VERSION equal to
# s3test.Version.
set -eu
VERSION=v1.8.0
tools=${CAUCUS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/caucus-tools}
dir=$tools/versitygw-$VERSION
if [ -x "$dir/versitygw" ]; then
	exit 0
fi
mkdir -p "$dir"
GOBIN=$dir GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
"$dir/versitygw" --version
