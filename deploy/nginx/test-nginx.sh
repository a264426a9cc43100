#!/usr/bin/env bash
# deploy/nginx/test-nginx.sh — checks the nginx snippets: `nginx -t` on a throw-away config
# that includes them, then a private nginx (own port, own prefix) in front of a tiny echo
# backend proves the raw request URI (percent-escapes, %2F, %3F) reaches ezdfsd unchanged,
# that only the cluster patterns are proxied, and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v nginx >/dev/null || { echo "test-nginx: nginx not installed" >&2; exit 2; }
# shellcheck source=../proxytest.sh
source "$here/../proxytest.sh"
proxytest_init test-nginx

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
        listen 127.0.0.1:$pport;
        include $here/ezdfsd.conf;
        location / { return 418 "app\n"; }
    }
}
CONF
nginx -t -q -c "$d/nginx.conf" -p "$d/"
nginx -c "$d/nginx.conf" -p "$d/" & pids+=($!)
wait_up "$bport"; wait_up "$pport"

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
proxytest_done
