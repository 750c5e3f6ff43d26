#!/usr/bin/env bash
# Kills a real `convkit train` mid-run, resumes it, and checks that it ends with exactly the
# weights of an uninterrupted run (same seed, one thread). Part of `make test`.
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
cmp "$dir/whole/seed003-conv-maxpool/weights.safetensors" "$dir/killed/seed003-conv-maxpool/weights.safetensors"
echo "test-resume: the resumed run ends with the weights of the uninterrupted one"
