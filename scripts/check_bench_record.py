#!/usr/bin/env python3
"""Checks a `convkit bench --json` record: every workload of the default run is there with a
positive, finite value, and the record names the machine. `make test` runs it on
`convkit bench --quick`'s record.

Run: python3 scripts/check_bench_record.py RECORD.json
"""
import json, math, sys

EXPECTED = ["conv_model/train", "pool_model/train", "dense_model/train", "conv_model/infer",
            "conv2d_64_32/forward", "conv2d_64_32/forward_backward", "resnet20/train",
            "lc_resnet20_e8_frozen/train", "lc_resnet20_e8_learned/train",
            "lc_resnet20_e128_frozen/train", "lc_resnet20_e128_learned/train"]

record = json.load(open(sys.argv[1]))
values = {r["workload"]: r["convkit"] for r in record["results"]}
problems = [f"{w}: missing" for w in EXPECTED if w not in values]
problems += [f"{w}: {v!r} is not a positive finite number" for w, v in values.items()
             if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)]
problems += [f"machine: no '{k}'" for k in ("cpu", "isa", "convkit_kernels", "convkit_threads") if not record.get("machine", {}).get(k)]
if problems:
    sys.exit(f"{sys.argv[1]}: " + "; ".join(problems))
print(f"bench record: {len(values)} workloads, every value positive and finite, on {record['machine']['cpu']}")
