#!/usr/bin/env bash
# The main job, end to end on the embedded store: builds everything, starts a
# coordinator and eight elves as separate processes, runs the animals
# pipeline (10 rounds, 60 jobs) to completion, prints its result, shows how to
# inspect it, and stops the processes cleanly.
#
#   bash examples/demo.sh            # store: ./demo/mycelium.db (kept for inspection)
#
# It builds every binary (mycelium, and the elves of the package
# mycelium-elves) and example once, in the release profile; the
# README's failure walkthrough runs the same binaries (target/release).
# The first build takes a while (README, Quickstart); cargo shows its progress.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-release}
flag=--release
[ "$profile" = "debug" ] && flag=
echo "== building ($profile; the first build compiles every dependency)"
cargo build $flag --workspace --bins --examples
bin=${CARGO_TARGET_DIR:-target}/$profile
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac

mkdir -p demo
# The store, its WAL files, the coordinator's doorbell socket, the output.
rm -f demo/mycelium.db demo/mycelium.db-* demo/mycelium.db.sock demo/animals.jsonl
export MYCELIUM_URL="sqlite://$PWD/demo/mycelium.db"
export ANIMALS_FILE="$PWD/demo/animals.jsonl"

pids=()
stop() {
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  # The coordinator's doorbell socket outlives it; nothing listens on it now.
  rm -f demo/mycelium.db.sock
}
trap stop EXIT

echo "== starting the coordinator and the elves (logs in demo/*.log)"
# Each log is emptied here, before its process starts: a background process
# opens its own redirections later, and a previous run's "ready" must not count.
logs=(demo/coordinator.log)
: >demo/coordinator.log
"$bin/mycelium" coordinator >>demo/coordinator.log 2>&1 &
pids+=($!)
for elf in animals storage stats-mean stats-min stats-max report sender printer; do
  : >"demo/elf-$elf.log"
  "$bin/elf-$elf" >>"demo/elf-$elf.log" 2>&1 &
  pids+=($!)
  logs+=("demo/elf-$elf.log")
done

# Wait for every process's readiness line (not a sleep); fail loudly if one died.
for log in "${logs[@]}"; do
  for _ in $(seq 1 600); do
    grep -q "ready" "$log" 2>/dev/null && break
    sleep 0.05
  done
  if ! grep -q "ready" "$log"; then
    echo "error: $log never said ready:" >&2
    cat "$log" >&2
    exit 1
  fi
done

echo "== running the pipeline"
"$bin/examples/pipeline"

run=$("$bin/mycelium" runs --json 2>/dev/null | grep -o '"id": *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
if [ -n "$run" ]; then
  echo "== mycelium run $run"
  "$bin/mycelium" run "$run" | head -20 || true
fi
echo "== the report elf printed:"
grep '^report:' demo/elf-report.log || true
echo "== stopping (SIGTERM: elves finish or release their jobs and exit 0)"
stop
pids=()
echo "done. The store is demo/mycelium.db; try: $bin/mycelium --store $MYCELIUM_URL runs"
echo "     (put the binaries on your PATH with: export PATH=\"$bin:\$PATH\", or cargo install --path . && cargo install --path elves)"
