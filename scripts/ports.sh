#!/usr/bin/env bash
# scripts/ports.sh — sourced by services.sh (and its test, scripts/ports_test.go): how the servers'
# ports are chosen. Needs SVC (the services directory) for its messages.

_T0=$(date +%s%N)
svc_log(){ local ms=$(( ($(date +%s%N) - _T0) / 1000000 )); printf '[services %4d.%03ds] %s\n' $((ms/1000)) $((ms%1000)) "$*" >&2; }

# wait_port HOST PORT TRIES: poll a TCP port every 0.05 s.
wait_port(){ local i; for i in $(seq "$3"); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# svc_free_port: print a port in 20000-29999 (below Linux's ephemeral range) that nothing listens on
# and that no other variable here has taken.
svc_free_port(){
  local i p
  for i in $(seq 200); do
    p=$(( 20000 + RANDOM % 10000 ))
    case " $_SVC_TAKEN " in *" $p "*) continue ;; esac
    wait_port 127.0.0.1 "$p" 1 || { echo "$p"; return 0; }
  done
  return 1
}

# svc_port VAR DEFAULT OWNED: set and export VAR. OWNED is the port this SVC_DIR's running server
# already uses ("" if none).
_SVC_TAKEN=""
svc_port(){
  local var=$1 def=$2 owned=$3 given=${!1:-} port
  if [ -n "$owned" ]; then
    if [ -n "$given" ] && [ "$given" != "$owned" ]; then
      svc_log "$var=$given, but the server in $SVC already runs on $owned: unset $var, or stop it first (source scripts/services.sh; ci_services_stop)"
      return 1
    fi
    port=$owned
  else
    port=${given:-$def}
    if wait_port 127.0.0.1 "$port" 1; then
      if [ -n "$given" ]; then
        svc_log "$var=$port is taken by another program (not a server of $SVC): set $var to a free port, or unset it to let services.sh choose one"
        return 1
      fi
      port=$(svc_free_port) || { svc_log "no free port found for $var: set it"; return 1; }
      svc_log "port $def is taken by another program: using $port for $var (set $var to choose)"
    fi
  fi
  _SVC_TAKEN="$_SVC_TAKEN $port"
  printf -v "$var" '%s' "$port"
  export "${var?}"
}
