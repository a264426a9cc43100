#!/usr/bin/env bash
# deploy/nginx/test-nginx.sh — checks the nginx snippets: `nginx -t` on a throw-away config
# that includes them, then a private nginx (own port, own prefix) in front of a tiny echo
# backend proves the raw request URI (percent-escapes, %2F, %3F) reaches ezdfsd unchanged,
# that only the cluster patterns are proxied, and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v nginx >/dev/null || { echo "test-nginx: nginx not installed" >&2; exit 2; }
command -v python3 >/dev/null || { echo "test-nginx: python3 needed for the echo backend" >&2; exit 2; }
d=$(mktemp -d /tmp/ezdfsd-nginx-test.XXXXXX)
pids=()
cleanup(){ for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$d"; }
trap cleanup EXIT
free_port(){ python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(free_port); nport=$(free_port)

# Echo backend: answers "<raw request target>|cookie=<..>|auth=<..>".
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

sed "s/127.0.0.1:8081/127.0.0.1:$bport/" "$here/ezdfsd-upstream.conf" > "$d/upstream.conf"
mkdir -p "$d/logs"
cat > "$d/nginx.conf" <<CONF
pid $d/nginx.pid;
error_log $d/logs/error.log;
daemon off;
events {}
http {
    access_log off;
    client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
    include $d/upstream.conf;
    server {
        listen 127.0.0.1:$nport;
        include $here/ezdfsd.conf;
        location / { return 418 "app\n"; }
    }
}
CONF
nginx -t -q -c "$d/nginx.conf" -p "$d/"
nginx -c "$d/nginx.conf" -p "$d/" & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$bport/" && break; sleep 0.05; done

fail=0
check(){ # path expected-body
  got=$(curl -s -H 'Cookie: eZSESSID=x' -H 'Authorization: Basic eDp5' --path-as-is "http://127.0.0.1:$nport$1")
  if [ "$got" = "$2" ]; then echo "ok   $1"; else echo "FAIL $1: got '$got', want '$2'"; fail=1; fi
}
check '/var/site/storage/images/a/foo%20bar.jpg'        '/var/site/storage/images/a/foo%20bar.jpg|cookie=|auth='
check '/var/site/storage/images/a/q%3Fmark.jpg?v=1'     '/var/site/storage/images/a/q%3Fmark.jpg?v=1|cookie=|auth='
check '/var/site/storage/images/a/x%2Fy.jpg'            '/var/site/storage/images/a/x%2Fy.jpg|cookie=|auth='
check '/var/site/storage/images/a/100%25.jpg'           '/var/site/storage/images/a/100%25.jpg|cookie=|auth='
check '/var/storage/images-versioned/1/it%27s.png'      '/var/storage/images-versioned/1/it%27s.png|cookie=|auth='
check '/var/site/cache/public/stylesheets/a.css'        '/var/site/cache/public/stylesheets/a.css|cookie=|auth='
check '/var/site/cache/texttoimage/t.png'               '/var/site/cache/texttoimage/t.png|cookie=|auth='
check '/var/site/storage/original/application/a.pdf'    'app'
check '/var/site/cache/template/x.php'                  'app'
check '/index.php'                                      'app'
[ "$fail" = 0 ] && echo "test-nginx: all checks passed" || { echo "test-nginx: FAILED" >&2; exit 1; }
