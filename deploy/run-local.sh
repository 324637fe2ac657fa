#!/usr/bin/env bash
# The school topology on one machine, for trying it and for the tests:
# PostgreSQL in $LAB_DIR, $LAB_SERVERS app servers, haproxy on 127.0.0.1:$LAB_PORT (deploy/haproxy.cfg).
#
#   LAB_DIR=/srv/lab-try LAB_SERVERS=2 LAB_PORT=8690 deploy/run-local.sh start   # ready when it returns
#   LAB_DIR=/srv/lab-try deploy/run-local.sh stop                               # ends all it started
#
# It only starts and stops them: start twice is refused while the first runs, stop twice is harmless.
# Ports: haproxy $LAB_PORT, the app servers $LAB_PORT+1 .. $LAB_PORT+N, PostgreSQL $LAB_PORT+50.
# The teacher password is $CONVNET_LAB_TEACHER_PASSWORD, else a random one kept in $LAB_DIR/teacher-password.
# Run as root or not: PostgreSQL refuses root, so as root it runs as the postgres user.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LAB_DIR="${LAB_DIR:?set LAB_DIR, the folder that holds the database, the models, the logs and the pid files}"
LAB_SERVERS="${LAB_SERVERS:-2}"
LAB_PORT="${LAB_PORT:-8690}"
PYTHON="${PYTHON:-python3}"
PG_PORT=$((LAB_PORT + 50))
READY_TIMEOUT_S="${LAB_READY_TIMEOUT_S:-180}"

say() { echo "run-local: $*"; }
die() { echo "run-local: $*" >&2; exit 1; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$found" ] || die "PostgreSQL is not installed (Debian: apt-get install postgresql)"
  echo "$found"
}

listening() {  # is something accepting connections on 127.0.0.1:$1?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

alive() {  # pid file -> is its process running?
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_postgres() {
  local bin data="$LAB_DIR/postgres"
  bin="$(pg_bin)"
  mkdir -p "$data"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$data"
    runuser -u postgres -- test -w "$data" ||
      die "PostgreSQL runs as the postgres user and cannot reach $data: choose a LAB_DIR it can (under /srv or /tmp)"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 >"$LAB_DIR/logs/postgres-init.log"
  fi
  listening "$PG_PORT" && die "port $PG_PORT (PostgreSQL) is taken"
  as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start \
    -o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1" >/dev/null
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'lab'" |
    grep -q 1 || as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres lab
}

start_servers() {
  local i port password
  password="${CONVNET_LAB_TEACHER_PASSWORD:-}"
  if [ -z "$password" ]; then
    [ -f "$LAB_DIR/teacher-password" ] || "$PYTHON" -c "import secrets; print(secrets.token_urlsafe(9))" \
      >"$LAB_DIR/teacher-password"
    password="$(cat "$LAB_DIR/teacher-password")"
  fi
  for i in $(seq 1 "$LAB_SERVERS"); do
    port=$((LAB_PORT + i))
    listening "$port" && die "port $port (app server $i) is taken"
    (
      cd "$ROOT"
      export CONVNET_LAB_DB="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/lab"
      export CONVNET_LAB_MODELS="$LAB_DIR/models" CONVNET_LAB_TRUSTED_PROXIES=127.0.0.1
      export CONVNET_LAB_TEACHER_PASSWORD="$password"
      export CONVNET_LAB_PUBLIC_URL="${CONVNET_LAB_PUBLIC_URL:-http://127.0.0.1:$LAB_PORT/}"
      exec setsid "$PYTHON" -m streamlit run app.py --server.address 127.0.0.1 --server.port "$port" \
        --server.headless true --server.fileWatcherType none --browser.gatherUsageStats false \
        </dev/null >"$LAB_DIR/logs/app-$i.log" 2>&1
    ) &
    echo $! >"$LAB_DIR/run/app-$i.pid"
    export "LAB_SERVER_$i=127.0.0.1:$port"
  done
}

start_balancer() {
  listening "$LAB_PORT" && die "port $LAB_PORT (haproxy) is taken"
  LAB_BIND="127.0.0.1:$LAB_PORT" haproxy -f "$ROOT/deploy/haproxy.cfg" -D -p "$LAB_DIR/run/haproxy.pid"
}

wait_ready() {  # every app server answers /ready, and so does the balancer
  local deadline=$((SECONDS + READY_TIMEOUT_S)) i url
  for i in $(seq 1 "$LAB_SERVERS") ""; do
    if [ -n "$i" ]; then url="http://127.0.0.1:$((LAB_PORT + i))/ready"; else url="http://127.0.0.1:$LAB_PORT/ready"; fi
    until "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; do
      if [ -n "$i" ] && ! alive "$LAB_DIR/run/app-$i.pid"; then
        die "app server $i died while starting; its log: $LAB_DIR/logs/app-$i.log"
      fi
      ((SECONDS < deadline)) || die "not ready after ${READY_TIMEOUT_S} s: $url (logs in $LAB_DIR/logs)"
      sleep 0.5
    done
  done
}

start() {
  mkdir -p "$LAB_DIR"/{logs,run,models}
  LAB_DIR="$(cd "$LAB_DIR" && pwd)"
  for pid in "$LAB_DIR"/run/*.pid; do
    alive "$pid" && die "already running (pid files in $LAB_DIR/run); stop it first"
  done
  command -v haproxy >/dev/null || die "haproxy is not installed (Debian: apt-get install haproxy)"
  start_postgres
  start_servers
  start_balancer
  wait_ready
  say "ready: http://127.0.0.1:$LAB_PORT/ ($LAB_SERVERS app servers, PostgreSQL on port $PG_PORT, logs in $LAB_DIR/logs)"
  [ -n "${CONVNET_LAB_TEACHER_PASSWORD:-}" ] || say "teacher password: $(cat "$LAB_DIR/teacher-password")"
}

stop_pid() {  # pid file, signal group?: TERM, then KILL after 15 s
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  [ -d "$LAB_DIR" ] || { say "nothing to stop in $LAB_DIR"; return 0; }
  local file data="$LAB_DIR/postgres"
  if [ -f "$LAB_DIR/run/haproxy.pid" ]; then
    kill -TERM "$(cat "$LAB_DIR/run/haproxy.pid")" 2>/dev/null || true
    rm -f "$LAB_DIR/run/haproxy.pid"
  fi
  for file in "$LAB_DIR"/run/app-*.pid; do stop_pid "$file"; done
  if [ -f "$data/postmaster.pid" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  say "stopped (the class store and the models stay in $LAB_DIR)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: LAB_DIR=... [LAB_SERVERS=2] [LAB_PORT=8690] $0 start|stop" ;;
esac
