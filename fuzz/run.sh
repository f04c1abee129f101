#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each (default 600), two at a time, keeping
# what they find in fuzz/corpus/<target> and crashes in fuzz/artifacts/<target>.
#   bash fuzz/run.sh            # all, 10 minutes each
#   SECONDS_EACH=30 bash fuzz/run.sh token routes
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seconds="${SECONDS_EACH:-600}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest config update_ops routes client_message token request_event)
cargo +nightly fuzz build
pids=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
    >"logs-$target.txt" 2>&1 &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
for target in "${targets[@]}"; do
  echo "$target: $(grep -E 'stat::number_of_executed_units|Done' "logs-$target.txt" | tail -1)"
done
