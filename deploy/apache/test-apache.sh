#!/usr/bin/env bash
# deploy/apache/test-apache.sh — checks deploy/apache/ezdfsd.conf: `apache2 -t` on a throw-away
# config, then a private apache2 (own port, own ServerRoot, foreground single process) in front of
# a tiny echo backend proves the raw request URI (%20, %3F, %2F, query) reaches ezdfsd unchanged,
# that only the cluster patterns are proxied, and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v apache2 >/dev/null || { echo "test-apache: apache2 not installed (apt-get install apache2)" >&2; exit 2; }
# shellcheck source=../proxytest.sh
source "$here/../proxytest.sh"
proxytest_init test-apache

# shellcheck source=apachetest.sh
source "$here/apachetest.sh"
apache_start "$here/ezdfsd.conf"

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
