#!/usr/bin/env python3
"""Records a `make fuzz` campaign in Fuzz/campaigns.json: for each reader, the inputs libFuzzer
ran, the crashes and timeouts it left in .build/fuzz/, the seed corpus and the corpus it grew,
with the date and the commit fuzzed. `make fuzz` runs it after the fuzzers.

Run: python3 scripts/fuzz_campaign.py [TARGET …]   (default: every target with a log)
"""
import datetime, glob, json, os, re, subprocess, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WORK = os.path.join(ROOT, ".build", "fuzz")
RECORD = os.path.join(ROOT, "Fuzz", "campaigns.json")

targets = sys.argv[1:] or sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(WORK, "*.log")))
if not targets:
    sys.exit("fuzz_campaign.py: no fuzzer logs in .build/fuzz (run make fuzz first)")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
entries = []
for target in targets:
    log = open(os.path.join(WORK, f"{target}.log"), errors="replace").read()
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log) or re.search(r"Done (\d+) runs", log)
    if not runs:
        sys.exit(f"fuzz_campaign.py: {target}.log has no run count (the fuzzer did not finish)")
    # The Makefile's artifact prefix is crash-<target>-; libFuzzer adds crash-, timeout-, oom-…
    prefix = f"crash-{target}-"
    artifacts = [os.path.basename(p)[len(prefix):] for p in glob.glob(os.path.join(WORK, prefix + "*"))]
    entries.append({
        "target": target, "inputs_run": int(runs.group(1)),
        "crashes": sorted(a for a in artifacts if not a.startswith(("timeout-", "slow-unit-"))),
        "timeouts": sorted(a for a in artifacts if a.startswith("timeout-")),
        "seed_corpus_inputs": len(os.listdir(os.path.join(ROOT, "Fuzz", "corpus", target))),
        "corpus_inputs_after": len([p for p in os.listdir(os.path.join(WORK, target))]),
    })
campaigns = json.load(open(RECORD)) if os.path.exists(RECORD) else []
campaigns.append({"date": datetime.date.today().isoformat(), "commit": commit, "targets": entries})
with open(RECORD, "w") as f:
    json.dump(campaigns, f, indent=2)
    f.write("\n")
for e in entries:
    print(f"{e['target']}: {e['inputs_run']:,} inputs, {len(e['crashes'])} crashes, {len(e['timeouts'])} timeouts")
