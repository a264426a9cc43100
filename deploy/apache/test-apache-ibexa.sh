#!/usr/bin/env bash
# deploy/apache/test-apache-ibexa.sh — checks deploy/apache/ezdfsd-ibexa.conf (eZ Platform / Ibexa) like
# test-apache.sh: `apache2 -t` on a throw-away config, then a private apache2 in front of
# a tiny echo backend proves the raw request URI (%20, %25, %3F, %2F, query) reaches ezdfsd unchanged,
# that only image storage is proxied (not storage/original or cache/public), and that Cookie/Authorization are dropped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v apache2 >/dev/null || { echo "test-apache-ibexa: apache2 not installed (apt-get install apache2)" >&2; exit 2; }
# shellcheck source=../proxytest.sh
source "$here/../proxytest.sh"
proxytest_init test-apache-ibexa

# shellcheck source=apachetest.sh
source "$here/apachetest.sh"
apache_start "$here/ezdfsd-ibexa.conf"

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
