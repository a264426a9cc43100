#!/usr/bin/env bash
# deploy/varnish/test-vcl.sh — compile deploy/varnish/ezdfsd.vcl with the local varnishd
# (varnishd -C: VCL → C → shared object, nothing is started). Exits non-zero on any VCL error.
#   deploy/varnish/test-vcl.sh [path/to/file.vcl]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vcl=${1:-$here/ezdfsd.vcl}
command -v varnishd >/dev/null || { echo "test-vcl: varnishd not installed (apt-get install varnish)" >&2; exit 2; }
workdir=$(mktemp -d /tmp/ezdfsd-vcl-test.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
# varnishd drops privileges to the varnish/vcache users when run as root: let them into the work dir.
chmod 0755 "$workdir"
if out=$(varnishd -C -f "$vcl" -n "$workdir/varnish" 2>&1); then
  echo "test-vcl: $vcl compiles ($(varnishd -V 2>&1 | head -1))"
else
  echo "$out" >&2
  echo "test-vcl: $vcl does NOT compile" >&2
  exit 1
fi
