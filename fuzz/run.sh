#!/usr/bin/env bash
# Runs every fuzz target under AFL++ for SECONDS each, starting from its committed
# corpus (fuzz/corpus/TARGET), and fails if any target crashed, naming the inputs.
# Findings go to target/fuzz/TARGET. Usage: fuzz/run.sh SECONDS [TARGET...]
set -euo pipefail
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(frames ops invites urls datagrams files document)
fi
binary=target/debug/canopy-fuzz
[ -x "$binary" ] || { echo "fuzz: $binary is missing (make fuzz builds it)" >&2; exit 1; }
# No CPU frequency or core-dump settings to change on shared machines; no screen.
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1
crashed=0
for target in "${targets[@]}"; do
  out="target/fuzz/$target"
  rm -rf "$out"
  mkdir -p "$out"
  echo "fuzz: $target for ${seconds}s"
  cargo afl fuzz -i "fuzz/corpus/$target" -o "$out" -V "$seconds" -- "$binary" "$target" \
    >"$out/afl.log" 2>&1 || { echo "fuzz: AFL++ failed on $target:" >&2; tail -20 "$out/afl.log" >&2; exit 1; }
  stats="$out/default/fuzzer_stats"
  execs=$(awk -F': *' '/^execs_done/ {print $2}' "$stats")
  paths=$(awk -F': *' '/^corpus_count/ {print $2}' "$stats")
  crashes=$(find "$out/default/crashes" -type f ! -name README.txt | wc -l)
  echo "fuzz: $target: $execs runs, $paths inputs in its corpus, $crashes crashes"
  if [ "$crashes" -gt 0 ]; then
    crashed=1
    find "$out/default/crashes" -type f ! -name README.txt | sed 's/^/fuzz:   crash input: /' >&2
  fi
done
if [ "$crashed" -ne 0 ]; then
  echo "fuzz: crashes found; replay one with: target/debug/canopy-fuzz TARGET < INPUT (after make fuzz-build)" >&2
  exit 1
fi
