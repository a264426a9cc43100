#!/usr/bin/env bash
# deploy/varnish/test-vcl.sh — compile the shipped VCL with the local varnishd (varnishd -C: VCL → C
# → shared object, nothing is started). Exits non-zero on any VCL error.
#   deploy/varnish/test-vcl.sh                   the shipped files (ezdfsd.vcl, ezdfsd-cluster.vcl,
#                                                ezdfsd-ibexa.vcl), and the subroutines they share
#                                                must be identical
#   deploy/varnish/test-vcl.sh path/to/file.vcl  that file only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v varnishd >/dev/null || { echo "test-vcl: varnishd not installed (apt-get install varnish)" >&2; exit 2; }
workdir=$(mktemp -d /tmp/ezdfsd-vcl-test.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
# varnishd drops privileges to the varnish/vcache users when run as root: let them into the work dir.
chmod 0755 "$workdir"

compile(){
  local vcl out
  vcl=$(realpath "$1")
  if out=$(varnishd -C -f "$vcl" -n "$workdir/varnish" 2>&1); then
    echo "test-vcl: $vcl compiles ($(varnishd -V 2>&1 | head -1))"
  else
    echo "$out" >&2
    echo "test-vcl: $vcl does NOT compile" >&2
    exit 1
  fi
}

# sub_body FILE NAME: the lines of "sub NAME {" up to its closing "}" at the start of a line.
sub_body(){ awk -v start="sub $2 {" '$0 == start {on=1} on {print} on && /^}/ {exit}' "$1"; }

if [ $# -gt 0 ]; then
  compile "$1"
  exit 0
fi
compile "$here/ezdfsd.vcl"
compile "$here/ezdfsd-cluster.vcl"
compile "$here/ezdfsd-ibexa.vcl"
# The Ibexa VCL sends only image storage to ezdfsd, never the legacy cache paths.
if ! grep -q '^    if (req.url ~ "^/var/(\[^/\]+/)?storage/images(-versioned)?/") {$' "$here/ezdfsd-ibexa.vcl" ||
   grep -q 'cache/(texttoimage|public)' "$here/ezdfsd-ibexa.vcl"; then
  echo "test-vcl: ezdfsd-ibexa.vcl must route exactly ^/var/([^/]+/)?storage/images(-versioned)?/ to ezdfsd" >&2
  exit 1
fi
for sub in ezdfsd_purge ezdfsd_deliver; do
  a=$(sub_body "$here/ezdfsd.vcl" "$sub"); b=$(sub_body "$here/ezdfsd-cluster.vcl" "$sub"); c=$(sub_body "$here/ezdfsd-ibexa.vcl" "$sub")
  if [ -z "$a" ] || [ "$a" != "$b" ] || [ "$a" != "$c" ]; then
    echo "test-vcl: sub $sub differs between ezdfsd.vcl, ezdfsd-cluster.vcl and ezdfsd-ibexa.vcl (keep them identical):" >&2
    diff <(echo "$a") <(echo "$b") >&2 || true
    diff <(echo "$a") <(echo "$c") >&2 || true
    exit 1
  fi
done
echo "test-vcl: ezdfsd_purge and ezdfsd_deliver are identical in the three files"
