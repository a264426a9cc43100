#!/usr/bin/env bash
# scripts/services.sh — source it. Installs (if missing) and starts, on loopback, the real servers the
# integration tests and benchmarks use: MariaDB (Debian mariadb-server-core, private datadir, no systemd),
# memcached (two nodes), versitygw (S3, real SigV4, posix backend), and installs varnish, nginx and vegeta.
# Exports TEST_* variables and defines ci_services_stop (call it from an EXIT trap).
# Every step is idempotent: a warm machine is ready in a few seconds.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SVC=${SVC_DIR:-/tmp/ezdfsd-svc}
TOOLS=${TOOLS_DIR:-$HOME/.cache/ezdfsd-tools/bin}
MYSQL_PORT=${MYSQL_PORT:-13306}
MEMCACHED_PORT=${MEMCACHED_PORT:-11311}
MEMCACHED_PORT2=${MEMCACHED_PORT2:-11312}
S3_PORT=${S3_PORT:-17070}
VERSITYGW_VERSION=v1.8.0
VEGETA_VERSION=v12.13.0
STATICCHECK_VERSION=v0.7.0
mkdir -p "$SVC" "$TOOLS"; chmod 755 "$SVC"
_T0=$(date +%s%N)
svc_log(){ local ms=$(( ($(date +%s%N) - _T0) / 1000000 )); printf '[services %4d.%03ds] %s\n' $((ms/1000)) $((ms%1000)) "$*" >&2; }

# wait_port HOST PORT TRIES: poll a TCP port every 0.05 s.
wait_port(){ local i; for i in $(seq "$3"); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# 1. Go-built tools, in the background (the long pole on a cold machine: ~2.5 min on 2 cores).
( [ -x "$TOOLS/versitygw" ]   || GOBIN=$TOOLS go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  [ -x "$TOOLS/vegeta" ]      || GOBIN=$TOOLS go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
  [ -x "$TOOLS/staticcheck" ] || GOBIN=$TOOLS go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
) > "$SVC/go-install.log" 2>&1 &
_GOPID=$!

# 2. Debian packages (minimal MariaDB: server-core + client-core, no galera/perl).
# apache2, python3 and file are for the deploy/ checks (private Apache, echo backend, static-build check).
_PKGS="mariadb-server-core mariadb-client-core memcached varnish nginx-light apache2 python3 file strace"
if ! command -v mariadbd >/dev/null || ! command -v memcached >/dev/null || ! command -v varnishd >/dev/null || ! command -v nginx >/dev/null ||
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
    --max-connections=500
  for _i in $(seq 300); do mariadb -S "$MDB/mysqld.sock" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  mariadb -S "$MDB/mysqld.sock" -e 'select 1' >/dev/null || { cat "$MDB/error.log"; exit 1; }
fi
mariadb -S "$MDB/mysqld.sock" -e "CREATE DATABASE IF NOT EXISTS ezp CHARACTER SET utf8mb4;
  CREATE USER IF NOT EXISTS 'ezp'@'%' IDENTIFIED BY 'ezp-pass'; GRANT ALL ON *.* TO 'ezp'@'%';"
svc_log "mariadb up on 127.0.0.1:$MYSQL_PORT"

# 4. memcached: two nodes, as an ElastiCache cluster would have.
for _p in "$MEMCACHED_PORT" "$MEMCACHED_PORT2"; do
  if ! wait_port 127.0.0.1 "$_p" 1; then
    nohup memcached -u nobody -l 127.0.0.1 -p "$_p" -m 64 > "$SVC/memcached-$_p.log" 2>&1 &
    echo $! > "$SVC/memcached-$_p.pid"
    wait_port 127.0.0.1 "$_p" 100 || { cat "$SVC/memcached-$_p.log"; exit 1; }
  fi
done
svc_log "memcached up on 127.0.0.1:$MEMCACHED_PORT and :$MEMCACHED_PORT2"

# 5. versitygw (needs the go install).
wait $_GOPID || { cat "$SVC/go-install.log"; exit 1; }
svc_log "go tools present (versitygw, vegeta, staticcheck)"
if ! wait_port 127.0.0.1 "$S3_PORT" 1; then
  mkdir -p "$SVC/s3"
  ROOT_ACCESS_KEY=ezdfsd-ci ROOT_SECRET_KEY=ezdfsd-ci-secret nohup "$TOOLS/versitygw" --port "127.0.0.1:$S3_PORT" --quiet \
    posix "$SVC/s3" > "$SVC/versitygw.log" 2>&1 &
  echo $! > "$SVC/versitygw.pid"
  wait_port 127.0.0.1 "$S3_PORT" 200 || { cat "$SVC/versitygw.log"; exit 1; }
fi
svc_log "versitygw up on 127.0.0.1:$S3_PORT"

export TEST_MYSQL_DSN="ezp:ezp-pass@tcp(127.0.0.1:$MYSQL_PORT)/ezp"
export TEST_MEMCACHED_ADDR="127.0.0.1:$MEMCACHED_PORT,127.0.0.1:$MEMCACHED_PORT2"
export TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" TEST_S3_ACCESS_KEY=ezdfsd-ci TEST_S3_SECRET_KEY=ezdfsd-ci-secret
export TEST_S3_ROOT="$SVC/s3"
export PATH="$TOOLS:$PATH"

# ci_services_stop stops every server this script started (by pid).
ci_services_stop(){
  local f p i
  for f in "$SVC"/versitygw.pid "$SVC"/memcached-*.pid "$SVC"/mariadb.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null) || continue
    kill "$p" 2>/dev/null || { rm -f "$f"; continue; }
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}
