#!/usr/bin/env bash
# scripts/services.sh — source it. Installs (if missing) and starts, on loopback, the real servers the
# integration tests and benchmarks use: MariaDB (Debian mariadb-server-core, private datadir, no systemd),
# PostgreSQL (Debian postgresql, private data directory, run as user postgres, no systemd), memcached (two
# nodes), versitygw (S3, real SigV4, posix backend), and installs varnish, nginx and vegeta.
# Exports TEST_* variables and the chosen ports, and defines ci_services_stop (stop the servers) and
# ci_services_cleanup (stop them and remove SVC_DIR); call one of them from an EXIT trap.
# Every step is idempotent: a warm machine is ready in a few seconds.
#
# Ports: MYSQL_PORT (13306), PG_PORT (15432), MEMCACHED_PORT (11311), MEMCACHED_PORT2 (11312), S3_PORT (17070). A server
# this SVC_DIR already runs keeps its port. A default port that something else holds is replaced by a
# free one (logged); a port set in the environment is used as given, or the script fails at once
# naming the variable. SVC_DIR (/tmp/ezdfsd-svc) holds the MariaDB and PostgreSQL data directories, the S3
# root, logs and pids.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SVC=${SVC_DIR:-/tmp/ezdfsd-svc}
TOOLS=${TOOLS_DIR:-$HOME/.cache/ezdfsd-tools/bin}
VERSITYGW_VERSION=v1.8.0
VEGETA_VERSION=v12.13.0
STATICCHECK_VERSION=v0.7.0
# A directory this script creates is marked, and only a marked directory is ever removed.
[ -d "$SVC" ] || { mkdir -p "$SVC"; touch "$SVC/.ezdfsd-services"; }
mkdir -p "$TOOLS"; chmod 755 "$SVC"
# Port helpers: svc_log, wait_port, svc_free_port, svc_port.
# shellcheck source=scripts/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

# svc_pid PIDFILE: print the pid in PIDFILE if that process is alive and is one of our servers
# (a stale pid file whose number now belongs to another program is ignored).
svc_pid(){
  local p c
  p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && c=$(cat "/proc/$p/comm" 2>/dev/null) || return 1
  case $c in mariadbd|mysqld|postgres|memcached|versitygw) echo "$p" ;; *) return 1 ;; esac
}

# svc_alive PIDFILE: whether the process in PIDFILE is still running, whatever its name: just after
# start-stop-daemon wrote the pid, the child may not have exec'd the server yet (svc_pid would say no).
svc_alive(){ local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# ci_services_stop stops every server this SVC_DIR's pid files name, and nothing else.
ci_services_stop(){
  local f p i sig
  for f in "$SVC"/s3.pid "$SVC"/versitygw.pid "$SVC"/memcached*.pid "$SVC"/mariadb.pid "$SVC"/postgres.pid; do
    [ -f "$f" ] || continue
    if p=$(svc_pid "$f"); then
      sig=TERM; [ "${f##*/}" = postgres.pid ] && sig=INT   # PostgreSQL's fast shutdown (TERM waits for clients)
      kill -"$sig" "$p" 2>/dev/null || true
      for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true   # 10 s is enough
    fi
    rm -f "$f"
  done
}

# ci_services_cleanup stops the servers and removes SVC_DIR (datadir, S3 root, logs) if this script
# created it.
ci_services_cleanup(){
  ci_services_stop
  if [ -f "$SVC/.ezdfsd-services" ]; then
    rm -rf "$SVC"
    svc_log "removed $SVC"
  else
    svc_log "left $SVC in place (not created by services.sh)"
  fi
}

# 0. Ports, first: a port problem fails here, in well under a second.
_owned_mysql=""
if [ -S "$SVC/mariadb/mysqld.sock" ] && command -v mariadb >/dev/null; then
  _owned_mysql=$(mariadb -S "$SVC/mariadb/mysqld.sock" -N -e 'select @@port' 2>/dev/null || true)
fi
_owned(){ svc_pid "$SVC/$1.pid" >/dev/null && cat "$SVC/$1.port" 2>/dev/null || true; }
svc_port MYSQL_PORT 13306 "$_owned_mysql"
svc_port PG_PORT 15432 "$(_owned postgres)"
svc_port MEMCACHED_PORT 11311 "$(_owned memcached1)"
svc_port MEMCACHED_PORT2 11312 "$(_owned memcached2)"
svc_port S3_PORT 17070 "$(_owned s3)"
svc_log "ports: MYSQL_PORT=$MYSQL_PORT PG_PORT=$PG_PORT MEMCACHED_PORT=$MEMCACHED_PORT MEMCACHED_PORT2=$MEMCACHED_PORT2 S3_PORT=$S3_PORT"

# 1. Go-built tools, in the background (the long pole on a cold machine: ~2.5 min on 2 cores).
( [ -x "$TOOLS/versitygw" ]   || GOBIN=$TOOLS go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  [ -x "$TOOLS/vegeta" ]      || GOBIN=$TOOLS go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
  [ -x "$TOOLS/staticcheck" ] || GOBIN=$TOOLS go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
) > "$SVC/go-install.log" 2>&1 &
_GOPID=$!

# 2. Debian packages (minimal MariaDB: server-core + client-core, no galera/perl).
# apache2, python3 and file are for the deploy/ checks (private Apache, echo backend, static-build check).
# postgresql is Debian's (15 on bookworm); its server binaries live in /usr/lib/postgresql/N/bin.
_PKGS="mariadb-server-core mariadb-client-core postgresql memcached varnish nginx-light apache2 python3 file strace"
_pgbin(){ ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if ! command -v mariadbd >/dev/null || [ ! -x "$(_pgbin)/postgres" ] || ! command -v memcached >/dev/null || ! command -v varnishd >/dev/null || ! command -v nginx >/dev/null ||
   ! command -v apache2 >/dev/null || ! command -v python3 >/dev/null || ! command -v file >/dev/null || ! command -v strace >/dev/null; then
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $_PKGS > "$SVC/apt.log" 2>&1 || { cat "$SVC/apt.log"; exit 1; }
fi
svc_log "packages present"

# 3. MariaDB in a private datadir (server-core does not create the mysql user).
getent passwd mysql >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /bin/false mysql
MDB=$SVC/mariadb
if ! mariadb -S "$MDB/mysqld.sock" -e 'select 1' >/dev/null 2>&1; then
  rm -rf "$MDB"; mkdir -p "$MDB"; chown mysql:mysql "$MDB"
  mariadb-install-db --user=mysql --datadir="$MDB" --auth-root-authentication-method=socket --skip-test-db > "$SVC/mariadb-install-db.log" 2>&1
  start-stop-daemon --start --background --make-pidfile --pidfile "$SVC/mariadb.pid" --chuid mysql \
    --exec /usr/sbin/mariadbd -- --no-defaults --datadir="$MDB" --socket="$MDB/mysqld.sock" \
    --port="$MYSQL_PORT" --bind-address=127.0.0.1 --skip-name-resolve --log-error="$MDB/error.log" \
    --max-connections=500 --innodb-buffer-pool-size=1G
  for _i in $(seq 300); do
    mariadb -S "$MDB/mysqld.sock" -e 'select 1' >/dev/null 2>&1 && break
    svc_alive "$SVC/mariadb.pid" || break   # it died (see error.log below): do not wait 30 s
    sleep 0.1
  done
  mariadb -S "$MDB/mysqld.sock" -e 'select 1' >/dev/null || { cat "$MDB/error.log"; exit 1; }
fi
mariadb -S "$MDB/mysqld.sock" -e "CREATE DATABASE IF NOT EXISTS ezp CHARACTER SET utf8mb4;
  CREATE USER IF NOT EXISTS 'ezp'@'%' IDENTIFIED BY 'ezp-pass'; GRANT ALL ON *.* TO 'ezp'@'%';"
svc_log "mariadb up on 127.0.0.1:$MYSQL_PORT"

# 3b. PostgreSQL in a private data directory, as user postgres (initdb refuses root), loopback only.
# Throw-away data: fsync off. The server's own pid (comm "postgres") goes in postgres.pid.
PGBIN=$(_pgbin); PGD=$SVC/postgres
if [ "$(_owned postgres)" != "$PG_PORT" ]; then
  rm -rf "$PGD"; mkdir -p "$PGD"; echo ezdfsd-pg-admin > "$PGD/pwfile"; chown -R postgres:postgres "$PGD"
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" -A scram-sha-256 --pwfile="$PGD/pwfile" -U postgres -E UTF8 \
    --locale=C.UTF-8 --no-sync > "$SVC/postgres-initdb.log" 2>&1 || { cat "$SVC/postgres-initdb.log"; exit 1; }
  start-stop-daemon --start --background --make-pidfile --pidfile "$SVC/postgres.pid" --chuid postgres \
    --output "$PGD/server.log" --exec "$PGBIN/postgres" -- -D "$PGD/data" -p "$PG_PORT" -h 127.0.0.1 -k "$PGD" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300
  echo "$PG_PORT" > "$SVC/postgres.port"
  for _i in $(seq 300); do
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    svc_alive "$SVC/postgres.pid" || break   # it died (see server.log below)
    sleep 0.1
  done
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { cat "$PGD/server.log"; exit 1; }
fi
_psql(){ PGPASSWORD=ezdfsd-pg-admin psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }
[ "$(_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'ezp'")" = 1 ] || _psql -c "CREATE ROLE ezp LOGIN CREATEDB PASSWORD 'ezp-pass'"
[ "$(_psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'ezp'")" = 1 ] || _psql -c "CREATE DATABASE ezp OWNER ezp ENCODING 'UTF8'"
svc_log "postgresql up on 127.0.0.1:$PG_PORT"

# 4. memcached: two nodes, as an ElastiCache cluster would have.
for _n in 1 2; do
  _p=$MEMCACHED_PORT; [ "$_n" = 1 ] || _p=$MEMCACHED_PORT2
  if [ "$(_owned "memcached$_n")" != "$_p" ]; then
    nohup memcached -u nobody -l 127.0.0.1 -p "$_p" -m 64 > "$SVC/memcached$_n.log" 2>&1 &
    echo $! > "$SVC/memcached$_n.pid"; echo "$_p" > "$SVC/memcached$_n.port"
    wait_port 127.0.0.1 "$_p" 100 || { cat "$SVC/memcached$_n.log"; exit 1; }
  fi
done
svc_log "memcached up on 127.0.0.1:$MEMCACHED_PORT and :$MEMCACHED_PORT2"

# 5. versitygw (needs the go install).
wait $_GOPID || { cat "$SVC/go-install.log"; exit 1; }
svc_log "go tools present (versitygw, vegeta, staticcheck)"
if [ "$(_owned s3)" != "$S3_PORT" ]; then
  mkdir -p "$SVC/s3"
  ROOT_ACCESS_KEY=ezdfsd-ci ROOT_SECRET_KEY=ezdfsd-ci-secret nohup "$TOOLS/versitygw" --port "127.0.0.1:$S3_PORT" --quiet \
    posix "$SVC/s3" > "$SVC/versitygw.log" 2>&1 &
  echo $! > "$SVC/s3.pid"; echo "$S3_PORT" > "$SVC/s3.port"
  wait_port 127.0.0.1 "$S3_PORT" 200 || { cat "$SVC/versitygw.log"; exit 1; }
fi
svc_log "versitygw up on 127.0.0.1:$S3_PORT"

export TEST_MYSQL_DSN="ezp:ezp-pass@tcp(127.0.0.1:$MYSQL_PORT)/ezp"
export TEST_POSTGRES_URL="postgres://ezp:ezp-pass@127.0.0.1:$PG_PORT/ezp?sslmode=disable"
export TEST_MEMCACHED_ADDR="127.0.0.1:$MEMCACHED_PORT,127.0.0.1:$MEMCACHED_PORT2"
export TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" TEST_S3_ACCESS_KEY=ezdfsd-ci TEST_S3_SECRET_KEY=ezdfsd-ci-secret
export TEST_S3_ROOT="$SVC/s3"
export PATH="$TOOLS:$PATH"

