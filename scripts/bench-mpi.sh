#!/usr/bin/env bash
# Data-parallel scaling on this machine: training images/s of one model file with 1 process
# (all cores) and with N = 2 and 4 MPI ranks (the cores shared out; 4 ranks oversubscribe a
# 2-core machine), with the gradient sums overlapping backward (buckets) or after it.
#   bash scripts/bench-mpi.sh [MODEL] [IMAGES]      (make bench-mpi)
set -euo pipefail
convkit=${CONVKIT:-.build/release/convkit}
model=${1:-models/seed003-conv.yaml}
images=${2:-12000}
dir=.build/mpi-bench
rm -rf "$dir"; mkdir -p "$dir"
args=("$model" --limit "$images" --test-limit 1000 --epochs 2 --validation-split 0 --batch-size 128)
mpirun=(mpirun --allow-run-as-root --oversubscribe)

# Trains (launched by the given prefix, if any) and prints the last epoch's images/s.
rate() {
  local name=$1 bucket=$2; shift 2
  "$@" "$convkit" train "${args[@]}" --bucket-size "$bucket" --out "$dir/$name" > "$dir/$name.log" 2>&1 ||
    { cat "$dir/$name.log" >&2; exit 1; }
  python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['models'][0]; print(round(m['history']['epochs'][-1]['images_per_second']))" \
    "$dir/$name/results.json"
}
ratio() { python3 -c "import sys; print(f'{eval(sys.argv[1]) / eval(sys.argv[2]):.2f}')" "$1" "$2"; }

echo "$(basename "$model"), $images images, batch 128, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
# Efficiency: images/s against N single-thread processes' worth (at most one per core).
cores=$(nproc)
single=$(rate single 0 env CONVKIT_THREADS=1)
one=$(rate one 0)
printf "%-46s %8s %13s %11s\n" "configuration" "img/s" "vs 1 process" "efficiency"
printf "%-46s %8s %13s %11s\n" "1 process, 1 thread" "$single" "$(ratio "$single" "$one")" "1.00"
printf "%-46s %8s %13s %11s\n" "1 process, $cores threads" "$one" "1.00" "$(ratio "$one" "$cores*$single")"
for n in 2 4; do
  for bucket in 262144 0; do
    what=$([ "$bucket" -eq 0 ] && echo "one sum after backward" || echo "256k-float buckets during backward")
    r=$(rate "np$n-$bucket" "$bucket" "${mpirun[@]}" -np "$n")
    used=$((n < cores ? n : cores))
    printf "%-46s %8s %13s %11s\n" "$n ranks, $what" "$r" "$(ratio "$r" "$one")" "$(ratio "$r" "$used*$single")"
  done
done
