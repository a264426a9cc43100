#!/usr/bin/env bash
# deploy/apache/test-apache.sh — checks deploy/apache/ezdfsd.conf: `apache2 -t` on a throw-away
# config, then a private apache2 (own port, own ServerRoot, foreground single process) in front of
# a tiny echo backend proves the raw request URI (%20, %3F, %2F, query) reaches ezdfsd unchanged,
# that only the cluster patterns are proxied, and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v apache2 >/dev/null || { echo "test-apache: apache2 not installed (apt-get install apache2)" >&2; exit 2; }
mods=/usr/lib/apache2/modules
d=$(mktemp -d /tmp/ezdfsd-apache-test.XXXXXX)
chmod 0755 "$d"
pids=()
cleanup(){ for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$d"; }
trap cleanup EXIT
free_port(){ python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(free_port); aport=$(free_port)

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

sed "s#127.0.0.1:8081#127.0.0.1:$bport#g" "$here/ezdfsd.conf" > "$d/ezdfsd.conf"
user=$(id -un); group=$(id -gn)
# Apache refuses to run its children as root.
if [ "$(id -u)" = 0 ]; then user=nobody; group=$(id -gn nobody); fi
cat > "$d/httpd.conf" <<CONF
ServerRoot "$d"
PidFile "$d/httpd.pid"
ErrorLog "$d/error.log"
LogLevel warn
Listen 127.0.0.1:$aport
User $user
Group $group
ServerName ezdfsd-test
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule headers_module $mods/mod_headers.so
LoadModule rewrite_module $mods/mod_rewrite.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
<VirtualHost 127.0.0.1:$aport>
    DocumentRoot "$d"
    Include "$d/ezdfsd.conf"
    # Stand-in for the eZ front controller rule that gets everything else.
    RewriteEngine On
    RewriteRule ^ - [G]
</VirtualHost>
CONF
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$bport/" && break; sleep 0.05; done
apache2 -t -f "$d/httpd.conf"
apache2 -f "$d/httpd.conf" -DFOREGROUND & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$aport/" && break; sleep 0.05; done

fail=0
check(){ # path expected-body-or-status
  if [[ "$2" == status:* ]]; then
    got="status:$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://127.0.0.1:$aport$1")"
  else
    got=$(curl -s -H 'Cookie: eZSESSID=x' -H 'Authorization: Basic eDp5' --path-as-is "http://127.0.0.1:$aport$1")
  fi
  if [ "$got" = "$2" ]; then echo "ok   $1"; else echo "FAIL $1: got '$got', want '$2'"; fail=1; fi
}
check '/var/site/storage/images/a/foo%20bar.jpg'        '/var/site/storage/images/a/foo%20bar.jpg|cookie=|auth='
check '/var/site/storage/images/a/q%3Fmark.jpg?v=1'     '/var/site/storage/images/a/q%3Fmark.jpg?v=1|cookie=|auth='
check '/var/site/storage/images/a/x%2Fy.jpg'            '/var/site/storage/images/a/x%2Fy.jpg|cookie=|auth='
check '/var/site/storage/images/a/100%25.jpg'           '/var/site/storage/images/a/100%25.jpg|cookie=|auth='
check '/var/storage/images-versioned/1/it%27s.png'      '/var/storage/images-versioned/1/it%27s.png|cookie=|auth='
check '/var/site/cache/public/stylesheets/a.css'        '/var/site/cache/public/stylesheets/a.css|cookie=|auth='
check '/var/site/cache/texttoimage/t.png'               '/var/site/cache/texttoimage/t.png|cookie=|auth='
check '/var/site/storage/original/application/a.pdf'    'status:410'
check '/index.php'                                      'status:410'
[ "$fail" = 0 ] && echo "test-apache: all checks passed" || { echo "test-apache: FAILED" >&2; cat "$d/error.log" >&2; exit 1; }
