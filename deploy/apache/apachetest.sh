# deploy/apache/apachetest.sh — sourced by test-apache.sh and test-apache-ibexa.sh after
# proxytest_init: apache_start CONF checks (apache2 -t) and starts a private apache2 (own port, own
# ServerRoot, foreground single process) with the vhost snippet CONF, its backend pointed at the
# echo backend and a stand-in for the app's front controller that answers 410 to everything else.
mods=/usr/lib/apache2/modules

apache_start(){
  sed "s#127.0.0.1:8081#127.0.0.1:$bport#g" "$1" > "$d/ezdfsd.conf"
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
}
