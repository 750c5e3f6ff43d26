#!/usr/bin/env bash
# Kills a real `convkit train` mid-run, resumes it, and checks that it ends with exactly the
# weights of an uninterrupted run (same seed, one thread); then the same for one run of a seed-002 study. Part of `make test`.
set -euo pipefail
convkit=${CONVKIT:-.build/release/convkit}
dir=.build/resume-test
rm -rf "$dir"
mkdir -p "$dir"
export CONVKIT_THREADS=1
args=(models/seed003-conv-maxpool.yaml --limit 3000 --test-limit 500 --epochs 3 --checkpoint-every 4 --seed 5)

"$convkit" train "${args[@]}" --out "$dir/whole" > "$dir/whole.log"
# Kill it once the first checkpoints exist, well before the end.
"$convkit" train "${args[@]}" --out "$dir/killed" > "$dir/killed.log" &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$dir/killed/seed003-conv-maxpool/checkpoint/latest" ] && \
    grep -q "step-8" "$dir/killed/seed003-conv-maxpool/checkpoint/latest" && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if grep -q "^Done in" "$dir/killed.log"; then echo "test-resume: the run finished before it was killed" >&2; exit 1; fi
echo "test-resume: killed at checkpoint $(cat "$dir/killed/seed003-conv-maxpool/checkpoint/latest")"

"$convkit" train --resume "$dir/killed" > "$dir/resumed.log"
# Training is deterministic: a "resume" that started again from scratch would end at the same
# weights, so the resumed run must say it continued past the start.
grep "^Resuming from .*: epoch [0-9]*, step [0-9]* of" "$dir/resumed.log" | grep -vq ": epoch 1, step 0 of" ||
  { echo "test-resume: the resumed run did not continue from its checkpoint" >&2; exit 1; }
cmp "$dir/whole/seed003-conv-maxpool/weights.safetensors" "$dir/killed/seed003-conv-maxpool/weights.safetensors"
echo "test-resume: the resumed run ends with the weights of the uninterrupted one"

# A seed-002 study run killed after its first epoch continues from that epoch's checkpoint and
# records what an uninterrupted run records (one run of the quick study, one thread).
study=(experiment seed002 --quick --only "seed=0,variant=frozen,k=3,E=2")
record=runs/lc-frozen-k3-e2-s0-ep2-n1500
"$convkit" "${study[@]}" --out "$dir/study-whole" > "$dir/study-whole.log"
"$convkit" "${study[@]}" --out "$dir/study-killed" > "$dir/study-killed.log" &
pid=$!
for _ in $(seq 1 1200); do
  [ -f "$dir/study-killed/$record.checkpoint/latest" ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ -f "$dir/study-killed/$record.json" ]; then echo "test-resume: the study run finished before it was killed" >&2; exit 1; fi
"$convkit" "${study[@]}" --out "$dir/study-killed" > "$dir/study-resumed.log"
grep -q "^Resuming from" "$dir/study-resumed.log" || { echo "test-resume: the study run did not resume from its checkpoint" >&2; exit 1; }
python3 - "$dir/study-whole/$record.json" "$dir/study-killed/$record.json" <<'PY'
import json, sys
whole, resumed = (json.load(open(p)) for p in sys.argv[1:])
keys = ["test_accuracy", "robust_accuracy", "spatial_entropy", "effective_entropy", "entropy_by_epoch", "parameters"]
def curve(r): return [(e["loss"], e["accuracy"]) for e in r["history"]["epochs"]]
different = [k for k in keys if whole[k] != resumed[k]] + (["history"] if curve(whole) != curve(resumed) else [])
if different:
    sys.exit(f"test-resume: the resumed study run differs from the uninterrupted one in {different}")
PY
echo "test-resume: the resumed study run records what the uninterrupted one records"
