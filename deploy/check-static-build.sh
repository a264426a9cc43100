#!/usr/bin/env bash
# deploy/check-static-build.sh — builds cmd/ezdfsd exactly as the Dockerfile's build stage does
# (CGO_ENABLED=0 -trimpath -ldflags "-s -w -X main.version=...") and checks the result is a
# static binary that runs on distroless/static (no libc, no dynamic loader).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/ezdfsd-static.XXXXXX)
trap 'rm -rf "$out"' EXIT
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$out/ezdfsd" ./cmd/ezdfsd
info=$(file "$out/ezdfsd")
echo "$info"
case "$info" in
  *"statically linked"*|*"static-pie linked"*) ;;
  *) echo "check-static-build: not a static binary" >&2; exit 1 ;;
esac
if ldd "$out/ezdfsd" >/dev/null 2>&1; then echo "check-static-build: ldd sees dynamic dependencies" >&2; exit 1; fi
"$out/ezdfsd" version
"$out/ezdfsd" --help > /dev/null
echo "check-static-build: ok ($(du -h "$out/ezdfsd" | cut -f1))"
