# deploy/proxytest.sh — sourced by nginx/test-nginx.sh and apache/test-apache.sh: what both
# proxy checks share. It makes a throw-away directory $d (removed on exit with every process
# in pids), offers free_port, starts an echo backend on $bport that answers
# "<raw request target>|cookie=<..>|auth=<..>", and defines check PATH WANT, which sends PATH
# with a Cookie and an Authorization header to the proxy on $pport and compares the answer:
# the echo's body, or "status:NNN" for an answer that must not reach ezdfsd.
#   proxytest_init NAME   (NAME: the caller's short name, for messages and the temp dir)
#   proxytest_done        (prints the verdict; exits 1 if any check failed)

proxytest_init() {
  name=$1
  command -v python3 >/dev/null || { echo "$name: python3 needed for the echo backend" >&2; exit 2; }
  d=$(mktemp -d "/tmp/ezdfsd-$name.XXXXXX")
  chmod 0755 "$d"
  pids=()
  trap proxytest_cleanup EXIT
  bport=$(free_port); pport=$(free_port)
  cat > "$d/echo.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("%s|cookie=%s|auth=%s" % (self.path, self.headers.get("Cookie", ""), self.headers.get("Authorization", ""))).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
  python3 "$d/echo.py" "$bport" & pids+=($!)
  fail=0
}

proxytest_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$d"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_up PORT: until something answers HTTP there (5 s at most).
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; }

check() { # path expected-body-or-status
  local got
  if [[ "$2" == status:* ]]; then
    got="status:$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://127.0.0.1:$pport$1")"
  else
    got=$(curl -s -H 'Cookie: eZSESSID=x' -H 'Authorization: Basic eDp5' --path-as-is "http://127.0.0.1:$pport$1")
  fi
  if [ "$got" = "$2" ]; then echo "ok   $1"; else echo "FAIL $1: got '$got', want '$2'"; fail=1; fi
}

proxytest_done() {
  if [ "$fail" = 0 ]; then echo "$name: all checks passed"; return 0; fi
  echo "$name: FAILED" >&2
  exit 1
}
