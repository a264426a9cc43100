#!/usr/bin/env bash
# deploy/nginx/test-nginx-ibexa.sh — checks deploy/nginx/ezdfsd-ibexa.conf like test-nginx.sh:
# `nginx -t`, then a private nginx with an Ibexa-like server block (front controller for
# everything else) in front of an echo backend: image storage reaches ezdfsd with the raw
# target (%20, %25, %3F, %2F, query) and without Cookie/Authorization; binary files, the
# legacy cache paths and the rest go to the front controller.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v nginx >/dev/null || { echo "test-nginx-ibexa: nginx not installed" >&2; exit 2; }
# shellcheck source=../proxytest.sh
source "$here/../proxytest.sh"
proxytest_init test-nginx-ibexa

sed "s/127.0.0.1:8081/127.0.0.1:$bport/" "$here/ezdfsd-upstream.conf" > "$d/upstream.conf"
mkdir -p "$d/logs" "$d/public"
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
        root $d/public;
        include $here/ezdfsd-ibexa.conf;
        # Stand-in for the Ibexa template's front controller rules.
        location / { try_files \$uri /index.php\$is_args\$args; }
        location = /index.php { return 418 "app\n"; }
    }
}
CONF
nginx -t -q -c "$d/nginx.conf" -p "$d/"
nginx -c "$d/nginx.conf" -p "$d/" & pids+=($!)
wait_up "$bport"; wait_up "$pport"

check '/var/site/storage/images/3/6/4/6/6463-1-eng-GB/a%20b.png'           '/var/site/storage/images/3/6/4/6/6463-1-eng-GB/a%20b.png|cookie=|auth='
check '/var/site/storage/images/_aliases/large/3/6/100%25.png?v=1'         '/var/site/storage/images/_aliases/large/3/6/100%25.png?v=1|cookie=|auth='
check '/var/site/storage/images/a/q%3Fmark.jpg'                           '/var/site/storage/images/a/q%3Fmark.jpg|cookie=|auth='
check '/var/site/storage/images/a/x%2Fy.jpg'                              '/var/site/storage/images/a/x%2Fy.jpg|cookie=|auth='
check '/var/storage/images-versioned/1/v.png'                             '/var/storage/images-versioned/1/v.png|cookie=|auth='
check '/var/site/storage/original/application/a.pdf'                      'app'
check '/var/site/cache/public/stylesheets/a.css'                          'app'
check '/content/download/1/2'                                             'app'
proxytest_done
