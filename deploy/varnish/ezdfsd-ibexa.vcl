vcl 4.1;
#
# Varnish 7.1 in front of ezdfsd --profile platform (DFS images of an eZ Platform / Ibexa DXP
# cluster) and of the Ibexa web server (everything else). The backend choice: only
# /var/<site>/storage/images(-versioned)/ goes to ezdfsd, the URLs the Ibexa vhost sent to
# StreamFileListener; binary files (storage/original, /content/download) stay with the app.
# To merge into Ibexa's own VCL (ibexa/http-cache's varnish7.vcl): keep the ezdfsd backends and
# the ezdfsd_* subroutines, and call ezdfsd_recv FIRST in vcl_recv, before the user-context
# hash lookup, so images are never varied by Cookie (ezplatform-http-cache PR #150).
# ezdfsd sends "Cache-Control: public" with no max-age, Last-Modified and ETag, as the app does
# (no Expires), so ezdfsd_backend_response gives 200s an explicit TTL instead of Varnish's
# default_ttl (120 s).
#
# Compile check: deploy/varnish/test-vcl.sh

import std;

# The Ibexa web server (nginx/Apache + PHP). Declared first: it is the default.
backend app {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;
}

# ezdfsd's serving port (EZDFSD_LISTEN).
backend ezdfsd {
    .host = "127.0.0.1";
    .port = "8081";
    .connect_timeout = 1s;
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 30s;
    .max_connections = 512;
    # Liveness: a path outside the served patterns is answered 404 by ezdfsd without
    # touching MySQL or storage, so a 404 proves the process answers HTTP. (Probes can
    # only hit the backend's own port; readiness is probed below.)
    .probe = {
        .request =
            "HEAD /ezdfsd-probe HTTP/1.1"
            "Host: ezdfsd-probe"
            "User-Agent: varnish-probe"
            "Connection: close";
        .expected_response = 404;
        .interval = 5s;
        .timeout = 2s;
        .window = 5;
        .threshold = 3;
        .initial = 3;
    }
}

# ezdfsd's metrics port (EZDFSD_METRICS_LISTEN). Never receives traffic: it only carries
# the /readyz probe (200 ready, 503 not_ready/starting/stopping), read with std.healthy()
# to decide how much grace (stale content) clients get.
backend ezdfsd_ready {
    .host = "127.0.0.1";
    .port = "9181";
    .probe = {
        .request =
            "GET /readyz HTTP/1.1"
            "Host: ezdfsd-probe"
            "User-Agent: varnish-probe"
            "Connection: close";
        .expected_response = 200;
        .interval = 5s;
        .timeout = 2s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }
}

# Who may PURGE / BAN.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    call ezdfsd_purge;
    call ezdfsd_recv;
}

# PURGE <url>: drop that object (all its variants) now.
#   curl -X PURGE http://varnish/var/site/storage/images/a/b/foo.jpg
# BAN with header X-Ban-Url (regex on the URL path, optionally X-Ban-Host):
#   curl -X BAN -H 'X-Ban-Url: ^/var/site/storage/images/' http://varnish/
# or from the shell: varnishadm ban 'obj.http.x-url ~ ^/var/site/cache/public/'
sub ezdfsd_purge {
    if (req.method == "PURGE" || req.method == "BAN") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed"));
        }
        if (req.method == "PURGE") {
            return (purge);
        }
        if (!req.http.X-Ban-Url) {
            return (synth(400, "X-Ban-Url header required"));
        }
        if (req.http.X-Ban-Host) {
            ban("obj.http.x-host == " + req.http.X-Ban-Host + " && obj.http.x-url ~ " + req.http.X-Ban-Url);
        } else {
            ban("obj.http.x-url ~ " + req.http.X-Ban-Url);
        }
        return (synth(200, "Banned"));
    }
}

# The URLs the Ibexa vhost templates rewrote to the front controller for StreamFileListener
# (ibexa_rewrite_dfsimage_params; spec §4.3).
sub ezdfsd_recv {
    if (req.url ~ "^/var/([^/]+/)?storage/images(-versioned)?/") {
        set req.backend_hint = ezdfsd;
        # Cluster files are public and identical for everyone.
        unset req.http.Cookie;
        unset req.http.Authorization;
        if (req.method != "GET" && req.method != "HEAD") {
            # ezdfsd answers 405 with Allow: GET, HEAD; never cache that.
            return (pass);
        }
        # Short grace while ezdfsd is ready (refresh in the background, nearly fresh
        # content); the object's full grace when it is not (MySQL/S3 outage, draining),
        # so stale images keep being served instead of errors.
        if (std.healthy(ezdfsd_ready)) {
            set req.grace = 10s;
        }
        return (hash);
    }
}

sub vcl_backend_response {
    call ezdfsd_backend_response;
}

sub ezdfsd_backend_response {
    if (bereq.backend != ezdfsd) {
        return;
    }
    # For BAN expressions (lurker-friendly: they test obj.http.* only).
    set beresp.http.x-url = bereq.url;
    set beresp.http.x-host = bereq.http.host;
    unset beresp.http.Set-Cookie;

    if (beresp.status >= 500) {
        if (bereq.is_bgfetch) {
            # A background refresh failed (e.g. 503 during a DB outage): keep the stale
            # object and keep serving it within its grace.
            return (abandon);
        }
        # Never cache errors, and do not create hit-for-miss objects either.
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.status == 404) {
        # Short negative caching: a file published just after a miss shows up within 10 s.
        set beresp.ttl = 10s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        return (deliver);
    }
    if (beresp.status == 200) {
        # The app's header set has no Expires and no max-age: give images a day. ezdfsd's
        # ETag / Last-Modified make the refresh after that a cheap 304.
        set beresp.ttl = 1d;
        # Serve stale up to 1 h while the backend cannot answer.
        set beresp.grace = 1h;
        # Keep expired objects a day for conditional revalidation (If-None-Match /
        # If-Modified-Since from the stale copy; ezdfsd answers correct 304s).
        set beresp.keep = 1d;
    }
}

sub vcl_deliver {
    call ezdfsd_deliver;
}

sub ezdfsd_deliver {
    unset resp.http.x-url;
    unset resp.http.x-host;
}
