#!/usr/bin/env bash
# Data-parallel training under Open MPI (part of `make test`; needs openmpi-bin):
#  1. 2 and 4 ranks end with the weights of one process (same seed, same global batches),
#     within float rounding;
#  2. a BatchNorm + Dropout model trains on 2 ranks and only rank 0 writes the report;
#  3. a rank killed mid-run stops the whole job with a message naming it, instead of a hang;
#  4. an error on the ranks (a missing model file) ends the job with the error, not a hang;
#  5. a seed-002 study shares its runs over 2 ranks, and rank 0 reports once both are done.
set -euo pipefail
convkit=${CONVKIT:-.build/release/convkit}
mpirun=(mpirun --allow-run-as-root --oversubscribe)
dir=.build/mpi-test
rm -rf "$dir"
mkdir -p "$dir"
cat > "$dir/small.yaml" <<'EOF'
name: small
input: [28, 28, 1]
layers:
  - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
  - MaxPooling2D
  - Conv2D: {filters: 16, kernel_size: 3, activation: relu}
  - Flatten
  - Dense: {units: 10, activation: softmax}
EOF
cat > "$dir/bn.yaml" <<'EOF'
name: bn
input: [28, 28, 1]
layers:
  - Conv2D: {filters: 16, kernel_size: 3}
  - BatchNormalization
  - Activation: relu
  - MaxPooling2D
  - Flatten
  - Dropout: 0.3
  - Dense: {units: 10, activation: softmax}
EOF
args=("$dir/small.yaml" --limit 1500 --test-limit 500 --epochs 2 --batch-size 100 --momentum 0.9 --seed 3)

# Largest difference between two weights files, relative to each tensor's largest value.
compare() {
  python3 - "$1" "$2" <<'EOF'
import array, json, struct, sys
def load(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for key, info in header.items():
        if key == "__metadata__": continue
        a, b = info["data_offsets"]
        out[key] = array.array("f", data[8 + n + a:8 + n + b])
    return out
one, many = load(sys.argv[1]), load(sys.argv[2])
assert one.keys() == many.keys(), "different parameters"
worst = max(max(abs(x - y) for x, y in zip(one[k], many[k])) / max(max(map(abs, one[k])), 1e-6) for k in one)
print(f"{worst:.1e}")
sys.exit(0 if worst < 1e-4 else 1)
EOF
}

CONVKIT_THREADS=1 "$convkit" train "${args[@]}" --out "$dir/one" > "$dir/one.log"
for n in 2 4; do
  # A small bucket size, so that several gradient sums overlap backward.
  "${mpirun[@]}" -np $n "$convkit" train "${args[@]}" --bucket-size 2000 --out "$dir/np$n" > "$dir/np$n.log" 2>&1 ||
    { cat "$dir/np$n.log"; exit 1; }
  # The assertion: within 1e-4 of each tensor's largest value (float sums in another order).
  difference=$(compare "$dir/one/small/weights.safetensors" "$dir/np$n/small/weights.safetensors") ||
    { echo "test-mpi: $n ranks end with weights that differ from one process's by $difference (tolerance 1e-4)" >&2; exit 1; }
  echo "test-mpi: $n ranks against 1 process, largest relative weight difference $difference (tolerance 1e-4)"
done

"${mpirun[@]}" -np 2 "$convkit" train "$dir/bn.yaml" --limit 1000 --test-limit 300 --epochs 1 --out "$dir/bn" > "$dir/bn.log" 2>&1 ||
  { cat "$dir/bn.log"; exit 1; }
test -s "$dir/bn/report.html" && test -s "$dir/bn/bn/weights.safetensors"
[ "$(grep -c '^Epoch 1/1' "$dir/bn.log")" -eq 1 ] || { echo "test-mpi: expected one progress bar (rank 0's)" >&2; exit 1; }
echo "test-mpi: BatchNorm + Dropout model trained on 2 ranks; rank 0 alone printed and wrote the report"

# Kill rank 1 once training runs; mpirun must end the job within 30 s.
"${mpirun[@]}" -np 2 "$convkit" train "$dir/small.yaml" --limit 20000 --epochs 20 --out "$dir/killed" > "$dir/killed.log" 2>&1 &
job=$!
for _ in $(seq 1 300); do grep -q "Epoch 1" "$dir/killed.log" && break; sleep 0.1; done
victim=""
for pid in $(pgrep -f "$dir/small.yaml --limit 20000" || true); do
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
[ -n "$victim" ] || { echo "test-mpi: rank 1 not found" >&2; cat "$dir/killed.log"; kill "$job"; exit 1; }
kill -9 "$victim"
started=$SECONDS
( sleep 30; kill -9 "$job" 2>/dev/null ) &
watchdog=$!
status=0; wait "$job" || status=$?
kill "$watchdog" 2>/dev/null || true
if [ $((SECONDS - started)) -ge 30 ]; then echo "test-mpi: the job hung after rank 1 died" >&2; exit 1; fi
[ "$status" -ne 0 ] && grep -q "rank 1" "$dir/killed.log" || { echo "test-mpi: no error naming rank 1" >&2; cat "$dir/killed.log"; exit 1; }
echo "test-mpi: killing rank 1 ended the job in $((SECONDS - started)) s: $(grep -m1 'rank 1' "$dir/killed.log" | sed 's/^ *//')"

status=0; timeout 60 "${mpirun[@]}" -np 2 "$convkit" train "$dir/missing.yaml" > "$dir/missing.log" 2>&1 || status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q "missing.yaml: no such model file" "$dir/missing.log" ||
  { echo "test-mpi: a failing rank did not end the job with its error" >&2; cat "$dir/missing.log"; exit 1; }
echo "test-mpi: an error on the ranks ends the job: $(grep -m1 'Error on rank' "$dir/missing.log")"

# Two runs of the quick seed-002 study, one on each rank; the report counts both.
"${mpirun[@]}" -np 2 "$convkit" experiment seed002 --quick --only "k=3,E=2" --out "$dir/study" > "$dir/study.log" 2>&1 ||
  { cat "$dir/study.log"; exit 1; }
[ "$(ls "$dir"/study/runs/*.json | wc -l)" -eq 2 ] || { echo "test-mpi: expected 2 study records" >&2; ls "$dir/study/runs"; exit 1; }
grep -q "(1 of 1 on rank 0)" "$dir/study.log" && grep -q "Runs recorded: 2 of 8 planned" "$dir/study/report.md" ||
  { echo "test-mpi: the study's runs were not shared one per rank, or the report missed one" >&2; cat "$dir/study.log"; exit 1; }
echo "test-mpi: a study's 2 runs trained one per rank; rank 0 reported both"
