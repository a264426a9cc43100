#!/usr/bin/env bash
# deploy/apache/test-apache-ibexa.sh — checks deploy/apache/ezdfsd-ibexa.conf (eZ Platform / Ibexa) like
# test-apache.sh: `apache2 -t` on a throw-away config, then a private apache2 in front of
# a tiny echo backend proves the raw request URI (%20, %25, %3F, %2F, query) reaches ezdfsd unchanged,
# that only image storage is proxied (not storage/original or cache/public), and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v apache2 >/dev/null || { echo "test-apache-ibexa: apache2 not installed (apt-get install apache2)" >&2; exit 2; }
mods=/usr/lib/apache2/modules
# shellcheck source=../proxytest.sh
source "$here/../proxytest.sh"
proxytest_init test-apache-ibexa

sed "s#127.0.0.1:8081#127.0.0.1:$bport#g" "$here/ezdfsd-ibexa.conf" > "$d/ezdfsd.conf"
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

check '/var/site/storage/images/3/6/4/6/6463-1-eng-GB/a%20b.png'    '/var/site/storage/images/3/6/4/6/6463-1-eng-GB/a%20b.png|cookie=|auth='
check '/var/site/storage/images/_aliases/large/3/6/100%25.png?v=1'  '/var/site/storage/images/_aliases/large/3/6/100%25.png?v=1|cookie=|auth='
check '/var/site/storage/images/a/q%3Fmark.jpg'                    '/var/site/storage/images/a/q%3Fmark.jpg|cookie=|auth='
check '/var/site/storage/images/a/x%2Fy.jpg'                       '/var/site/storage/images/a/x%2Fy.jpg|cookie=|auth='
check '/var/storage/images-versioned/1/v.png'                      '/var/storage/images-versioned/1/v.png|cookie=|auth='
check '/var/site/storage/original/application/a.pdf'               'status:410'
check '/var/site/cache/public/stylesheets/a.css'                   'status:410'
check '/content/download/1/2'                                      'status:410'
[ "$fail" = 0 ] || cat "$d/error.log" >&2
proxytest_done
