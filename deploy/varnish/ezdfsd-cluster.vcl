vcl 4.1;
#
# Varnish 7.1 in front of SEVERAL web nodes, each running the eZ Publish web server (nginx or
# Apache + PHP) and ezdfsd side by side: the AWS layout of deploy/README.md ("Several nodes"),
# where two Varnish servers behind the load balancer each load this same file.
#
# What it adds to ezdfsd.vcl (the one-node file; the caching rules below are the same):
#   * cluster URLs go to the ezdfsd of a node that is READY (its /readyz answers 200), sharded
#     by URL so each node's metadata cache holds a share of the names; a node whose database connection failed, or that is draining for a restart, gets no
#     new cluster requests while another node is ready;
#   * when no node is ready (a database failover hits every node at once), requests still go to a
#     node whose ezdfsd process answers: it serves the rows it has cached (stale-if-error), and
#     Varnish serves its own stale objects for the full grace;
#   * a 5xx or a refused connection from one node is retried once on another node, so a node
#     that turned unready between two probes costs no client an error.
#
# Per node, two backends: ezdfsd_<n> carries traffic (liveness probe: a path outside the served
# patterns is a 404 without touching MySQL or storage), ezdfsd_<n>_ready only carries the /readyz
# probe on the metrics port (Varnish probes a backend's own address, so readiness needs its own
# backend). ezdfsd on each node must then listen where Varnish reaches it, e.g.
#   EZDFSD_LISTEN=10.0.1.11:8081  EZDFSD_METRICS_LISTEN=10.0.1.11:9181
# and the security group must let only the Varnish servers in.
#
# To add a node: copy the three backends of node 1 (app_1, ezdfsd_1, ezdfsd_1_ready), add them to
# the three directors in vcl_init, and add its "elsif" lines to ezdfsd_pick_node and to the retry
# ring in vcl_backend_fetch.
#
# Compile check: deploy/varnish/test-vcl.sh deploy/varnish/ezdfsd-cluster.vcl
# Exercised by opstest.TestVarnishClusterMovesTrafficOffUnreadyNode (two ezdfsd, one varnishd).

import std;
import directors;

# ---- probes -------------------------------------------------------------------------------
# Liveness of the serving port: the process answers HTTP.
probe ezdfsd_alive {
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

# Readiness: 200 while the node's database, mount point and bucket answer; 503 while starting,
# when one of them fails, and at once on SIGTERM (draining).
probe ezdfsd_ready {
    .request =
        "GET /readyz HTTP/1.1"
        "Host: ezdfsd-probe"
        "User-Agent: varnish-probe"
        "Connection: close";
    .expected_response = 200;
    .interval = 2s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

# ---- node 1 -------------------------------------------------------------------------------
backend app_1 {
    .host = "10.0.1.11";
    .port = "80";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;
}

backend ezdfsd_1 {
    .host = "10.0.1.11";
    .port = "8081";
    .connect_timeout = 1s;
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 30s;
    .max_connections = 512;
    .probe = ezdfsd_alive;
}

backend ezdfsd_1_ready {
    .host = "10.0.1.11";
    .port = "9181";
    .probe = ezdfsd_ready;
}

# ---- node 2 -------------------------------------------------------------------------------
backend app_2 {
    .host = "10.0.1.12";
    .port = "80";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;
}

backend ezdfsd_2 {
    .host = "10.0.1.12";
    .port = "8081";
    .connect_timeout = 1s;
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 30s;
    .max_connections = 512;
    .probe = ezdfsd_alive;
}

backend ezdfsd_2_ready {
    .host = "10.0.1.12";
    .port = "9181";
    .probe = ezdfsd_ready;
}

sub vcl_init {
    # The app (PHP) on every node; nothing ezdfsd-specific.
    new app_nodes = directors.round_robin();
    app_nodes.add_backend(app_1);
    app_nodes.add_backend(app_2);

    # Cluster URLs are sharded by URL, so each node's in-process metadata cache holds its own
    # share of the names instead of all of them. Both rings name the nodes alike (ident), so a
    # URL maps to the same node in both.
    #
    # Ready nodes, by their /readyz backends: the director returns the readiness backend of the
    # URL's first ready node (or none); ezdfsd_pick_node maps it to that node's serving backend.
    new ezdfsd_ready_nodes = directors.shard();
    ezdfsd_ready_nodes.add_backend(ezdfsd_1_ready, ident = "node1");
    ezdfsd_ready_nodes.add_backend(ezdfsd_2_ready, ident = "node2");
    ezdfsd_ready_nodes.reconfigure();

    # Every node whose ezdfsd answers at all: the fallback when no node is ready.
    new ezdfsd_live_nodes = directors.shard();
    ezdfsd_live_nodes.add_backend(ezdfsd_1, ident = "node1");
    ezdfsd_live_nodes.add_backend(ezdfsd_2, ident = "node2");
    ezdfsd_live_nodes.reconfigure();
}

# Who may PURGE / BAN (add the addresses your deploy tooling sends them from).
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    set req.backend_hint = app_nodes.backend();
    call ezdfsd_purge;
    call ezdfsd_recv;
}

# PURGE / BAN, exactly as in ezdfsd.vcl (test-vcl.sh checks that the two stay identical). Send
# them to both Varnish servers.
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

# Sets req.backend_hint to the serving backend of the URL's ready node and
# req.http.x-ezdfsd-ready to "1"; when no node is ready, to the URL's live node and "0".
sub ezdfsd_pick_node {
    set req.backend_hint = ezdfsd_ready_nodes.backend(by = URL);
    set req.http.x-ezdfsd-ready = "1";
    if (req.backend_hint == ezdfsd_1_ready) {
        set req.backend_hint = ezdfsd_1;
    } elsif (req.backend_hint == ezdfsd_2_ready) {
        set req.backend_hint = ezdfsd_2;
    } else {
        set req.backend_hint = ezdfsd_live_nodes.backend(by = URL);
        set req.http.x-ezdfsd-ready = "0";
    }
}

# The URLs eZ's vhost / nginx templates rewrote to index_cluster.php.
sub ezdfsd_recv {
    if (req.url ~ "^/var/([^/]+/)?storage/images(-versioned)?/" ||
        req.url ~ "^/var/([^/]+/)?cache/(texttoimage|public)/") {
        call ezdfsd_pick_node;
        unset req.http.Cookie;
        unset req.http.Authorization;
        if (req.method != "GET" && req.method != "HEAD") {
            # ezdfsd answers 405 with Allow: GET, HEAD; never cache that.
            unset req.http.x-ezdfsd-ready;
            return (pass);
        }
        # Short grace while some node is ready (refresh in the background, nearly fresh
        # content); the object's full grace when none is, so stale images keep being served.
        if (req.http.x-ezdfsd-ready == "1") {
            set req.grace = 10s;
        }
        unset req.http.x-ezdfsd-ready;
        return (hash);
    }
}

# The backend subroutines recognise a cluster fetch by its backend's name: every serving
# backend is called ezdfsd_<node>.
sub vcl_backend_fetch {
    if (bereq.retries > 0) {
        # A retry after a 5xx or a failed connection goes to the next node (a ring: add one
        # line per node).
        if (bereq.backend == ezdfsd_1) {
            set bereq.backend = ezdfsd_2;
        } elsif (bereq.backend == ezdfsd_2) {
            set bereq.backend = ezdfsd_1;
        }
    }
}

sub vcl_backend_error {
    if (("" + bereq.backend) ~ "^ezdfsd_" && bereq.retries < 1) {
        return (retry);
    }
}

sub vcl_backend_response {
    call ezdfsd_backend_response;
}

# The caching rules of ezdfsd.vcl, plus one retry on another node for a 5xx.
sub ezdfsd_backend_response {
    if (beresp.backend.name !~ "^ezdfsd_") {
        return;
    }
    if (beresp.status >= 500 && bereq.retries < 1) {
        return (retry);
    }
    # For BAN expressions (lurker-friendly: they test obj.http.* only).
    set beresp.http.x-url = bereq.url;
    set beresp.http.x-host = bereq.http.host;
    unset beresp.http.Set-Cookie;

    if (beresp.status >= 500) {
        if (bereq.is_bgfetch) {
            # A background refresh failed on two nodes: keep serving the stale object.
            return (abandon);
        }
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.status == 404) {
        set beresp.ttl = 10s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        return (deliver);
    }
    if (beresp.status == 200) {
        set beresp.grace = 1h;
        set beresp.keep = 1d;
    }
}

sub vcl_deliver {
    call ezdfsd_deliver;
}

# As in ezdfsd.vcl.
sub ezdfsd_deliver {
    unset resp.http.x-url;
    unset resp.http.x-host;
}
