#!/usr/bin/env bash
# The live check of the ArangoDB backend against a real server.
#
#   scripts/arango-live-check.sh            # ArangoDB 3.11.14 (Apache-2.0) in docker
#   scripts/arango-live-check.sh 3.12.4     # ArangoDB 3.12 (BUSL-1.1 source, Community Licence binaries)
#   ARANGO_LIVE_URL=arangodb://root@host:8529 ARANGO_LIVE_PASSWORD=... scripts/arango-live-check.sh
#                                           # a server you run yourself (no container is started)
#
# Needs: cargo, and docker (or podman: CONTAINER_ENGINE=podman) unless
# ARANGO_LIVE_URL is given. Steps, each of which ends the check with a named
# failure when it fails:
#
#   1. start ArangoDB (arangod --transaction.streaming-idle-timeout 2; see
#      README, "Running across machines") and wait until
#      GET /_admin/server/availability answers;
#   2. check the server: its version, and that a Stream Transaction left
#      idle is expired within a few seconds (a writer killed inside a
#      transaction holds the writer lock until then);
#   3. build, then run the conformance suite against the server, the
#      EXPLAIN of the claim (the ready-jobs index, no sort step) and C13
#      (clocks): the tests marked "needs MYCELIUM_ARANGO_URL";
#   4. run W1-W3 through `mycelium bench --store arangodb://...` and print
#      the figures.
#
# It ends with "LIVE CHECK PASSED" or "LIVE CHECK FAILED: <step>: <why>".
# The password never appears on a command line: it travels in the
# environment (MYCELIUM_ARANGO_PASSWORD, ARANGO_ROOT_PASSWORD) and in a curl
# config read from stdin.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${1:-3.11.14}"
ENGINE="${CONTAINER_ENGINE:-docker}"
RUNS="${ARANGO_LIVE_RUNS:-3}"
CONTAINER=""
STEP="setup"

fail() {
  echo "LIVE CHECK FAILED: ${STEP}: $*" >&2
  exit 1
}
step() {
  STEP="$1"
  echo
  echo "== ${STEP}"
}
cleanup() {
  if [ -n "$CONTAINER" ]; then
    "$ENGINE" rm -f "$CONTAINER" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

command -v cargo >/dev/null || fail "cargo is not installed (https://rustup.rs)"
command -v curl >/dev/null || fail "curl is not installed"

# curl with the root credentials, kept off the command line.
acurl() {
  printf 'user = "%s:%s"\n' "$ARANGO_USER" "$ARANGO_PASSWORD" | curl --config - -fsS "$@"
}

if [ -n "${ARANGO_LIVE_URL:-}" ]; then
  step "use the server at ARANGO_LIVE_URL"
  URL="$ARANGO_LIVE_URL"
  ARANGO_PASSWORD="${ARANGO_LIVE_PASSWORD:-${MYCELIUM_ARANGO_PASSWORD:-}}"
  ARANGO_USER="${MYCELIUM_ARANGO_USER:-root}"
  # http://host:port for curl, from arangodb://[user@]host:port[/db] or http(s)://...
  hostport="$(printf '%s' "$URL" | sed -E 's#^[a-z]+://##; s#^[^@/]*@##; s#[/?].*$##')"
  case "$URL" in
    https://* | *tls=true*) BASE="https://$hostport" ;;
    *) BASE="http://$hostport" ;;
  esac
else
  step "start ArangoDB ${VERSION} with ${ENGINE}"
  command -v "$ENGINE" >/dev/null || fail "${ENGINE} is not installed (install docker, or set CONTAINER_ENGINE=podman, or point ARANGO_LIVE_URL at a server)"
  ARANGO_USER=root
  ARANGO_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  export ARANGO_ROOT_PASSWORD="$ARANGO_PASSWORD"
  CONTAINER="mycelium-live-check-$$"
  "$ENGINE" run -d --name "$CONTAINER" -e ARANGO_ROOT_PASSWORD -p 127.0.0.1::8529 "arangodb:${VERSION}" \
    arangod --transaction.streaming-idle-timeout 2 >/dev/null \
    || fail "could not start the arangodb:${VERSION} image (is the version right? see https://hub.docker.com/_/arangodb)"
  port="$("$ENGINE" port "$CONTAINER" 8529/tcp | head -n1 | sed -E 's/.*:([0-9]+)$/\1/')"
  [ -n "$port" ] || fail "the container publishes no port for 8529"
  BASE="http://127.0.0.1:${port}"
  URL="arangodb://root@127.0.0.1:${port}"
fi

step "wait for the server"
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "${BASE}/_admin/server/availability" 2>/dev/null; then
    break
  fi
  if [ -n "$CONTAINER" ] && [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" != "true" ]; then
    "$ENGINE" logs "$CONTAINER" 2>&1 | tail -n 30 >&2 || true
    fail "the ArangoDB container stopped (its log is above)"
  fi
  sleep 1
done
curl -fsS -o /dev/null "${BASE}/_admin/server/availability" \
  || fail "GET ${BASE}/_admin/server/availability did not answer 200 within 120 s"

step "check the server"
version="$(acurl "${BASE}/_api/version")" || fail "GET /_api/version failed: wrong password, or not ArangoDB at ${BASE}"
echo "server: ${version}"
case "$version" in
  *'"version":"3.11.'* | *'"version":"3.12.'* | *'"version":"3.13.'*) ;;
  *) echo "warning: mycelium is tested with ArangoDB 3.11 and 3.12; this server says ${version}" >&2 ;;
esac
trx="$(acurl -X POST "${BASE}/_api/transaction/begin" -d '{"collections":{"read":[]}}' | sed -E 's/.*"id":"([0-9]+)".*/\1/')" \
  || fail "could not begin a Stream Transaction"
sleep 7
status="$(acurl "${BASE}/_api/transaction/${trx}" 2>/dev/null || true)"
case "$status" in
  *'"status":"running"'*)
    acurl -X DELETE "${BASE}/_api/transaction/${trx}" >/dev/null 2>&1 || true
    fail "a Stream Transaction left idle for 7 s is still running: start arangod with --transaction.streaming-idle-timeout 2 (a writer killed inside a transaction holds the writer lock until the server expires it; conformance case C11 needs it gone within 5 s)"
    ;;
esac
echo "an idle Stream Transaction expires within 7 s: ok"

export MYCELIUM_ARANGO_URL="$URL"
export MYCELIUM_ARANGO_USER="$ARANGO_USER"
export MYCELIUM_ARANGO_PASSWORD="$ARANGO_PASSWORD"

step "build (release)"
cargo build --release --workspace --bins || fail "cargo build failed"
cargo test --release --no-run --test integration || fail "the integration tests do not build"

step "conformance suite, EXPLAIN of the claim, C13 against ArangoDB"
# The tests that need a real server are #[ignore]d otherwise; --ignored runs
# exactly them (and nothing else) in these two modules.
cargo test --release --test integration -- --ignored conformance_arango::real:: arango_backend::real_server \
  || fail "the tests against the real server failed (above: the failing cases by name)"

step "W1-W3 through mycelium bench --store ${URL}"
figures="$(mktemp)"
for w in w1 w2 w3; do
  target/release/mycelium --store "$URL" bench --workload "$w" --runs "$RUNS" --json | tee -a "$figures" \
    || fail "mycelium bench --workload ${w} failed"
done
summarize() {
  python3 - "$figures" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if line.strip().startswith("{"):
        r = json.loads(line)
        runs.setdefault(r["workload"], []).append(r)
for w, rows in runs.items():
    secs = sorted(r["seconds"] for r in rows)
    med = statistics.median(secs)
    extra = ""
    hops = [r["ms_per_hop"] for r in rows if r.get("ms_per_hop") is not None]
    if hops:
        extra = ", %.3f ms per hop" % statistics.median(hops)
    n = rows[0]["n"]
    print("%s: n=%d, median %.3f s (min %.3f, max %.3f) over %d runs, %.0f tasks/s%s"
          % (w, n, med, secs[0], secs[-1], len(secs), n / med, extra))
PY
}

echo
echo "== figures (${RUNS} runs each, 2 elves x 64 slots, release build)"
summarize || { echo "(python3 is missing: the figures are the JSON lines above)"; }
rm -f "$figures"
echo
echo "LIVE CHECK PASSED against ${version}"
