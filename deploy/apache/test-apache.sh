#!/usr/bin/env bash
# deploy/apache/test-apache.sh — checks deploy/apache/ezdfsd.conf: `apache2 -t` on a throw-away
# config, then a private apache2 (own port, own ServerRoot, foreground single process) in front of
# a tiny echo backend proves the raw request URI (%20, %3F, %2F, query) reaches ezdfsd unchanged,
# that only the cluster patterns are proxied, and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v apache2 >/dev/null || { echo "test-apache: apache2 not installed (apt-get install apache2)" >&2; exit 2; }
mods=/usr/lib/apache2/modules
# shellcheck source=../proxytest.sh
source "$here/../proxytest.sh"
proxytest_init test-apache

sed "s#127.0.0.1:8081#127.0.0.1:$bport#g" "$here/ezdfsd.conf" > "$d/ezdfsd.conf"
user=$(id -un); group=$(id -gn)
# Apache refuses to run its children as root.
if [ "$(id -u)" = 0 ]; then user=nobody; group=$(id -gn nobody); fi
cat > "$d/httpd.conf" <<CONF
ServerRoot "$d"
PidFile "$d/httpd.pid"
ErrorLog "$d/error.log"
LogLevel warn
Listen 127.0.0.1:$pport
User $user
Group $group
ServerName ezdfsd-test
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule headers_module $mods/mod_headers.so
LoadModule rewrite_module $mods/mod_rewrite.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
<VirtualHost 127.0.0.1:$pport>
    DocumentRoot "$d"
    Include "$d/ezdfsd.conf"
    # Stand-in for the eZ front controller rule that gets everything else.
    RewriteEngine On
    RewriteRule ^ - [G]
</VirtualHost>
CONF
apache2 -t -f "$d/httpd.conf"
apache2 -f "$d/httpd.conf" -DFOREGROUND & pids+=($!)
wait_up "$bport"; wait_up "$pport"

check '/var/site/storage/images/a/foo%20bar.jpg'        '/var/site/storage/images/a/foo%20bar.jpg|cookie=|auth='
check '/var/site/storage/images/a/q%3Fmark.jpg?v=1'     '/var/site/storage/images/a/q%3Fmark.jpg?v=1|cookie=|auth='
check '/var/site/storage/images/a/x%2Fy.jpg'            '/var/site/storage/images/a/x%2Fy.jpg|cookie=|auth='
check '/var/site/storage/images/a/100%25.jpg'           '/var/site/storage/images/a/100%25.jpg|cookie=|auth='
check '/var/storage/images-versioned/1/it%27s.png'      '/var/storage/images-versioned/1/it%27s.png|cookie=|auth='
check '/var/site/cache/public/stylesheets/a.css'        '/var/site/cache/public/stylesheets/a.css|cookie=|auth='
check '/var/site/cache/texttoimage/t.png'               '/var/site/cache/texttoimage/t.png|cookie=|auth='
check '/var/site/storage/original/application/a.pdf'    'status:410'
check '/index.php'                                      'status:410'
[ "$fail" = 0 ] || cat "$d/error.log" >&2
proxytest_done
