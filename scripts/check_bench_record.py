#!/usr/bin/env python3
"""Checks a `convkit bench --json` record: every workload of the default run is there with a
positive, finite value, and the record names the machine: its CPU, ConvKit's kernel path and
the FMA peak measured at its width (with each GFLOP/s figure's % of it). `make test` runs it on
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
machine = record.get("machine", {})
problems += [f"machine: no '{k}'" for k in ("cpu", "isa", "convkit_kernels", "convkit_threads", "fma_peak_gflops", "openblas_coretype")
             if not machine.get(k)]
if machine.get("convkit_kernels") not in (None, "avx512", "avx2", "generic", "avx512-emulated"):
    problems.append(f"machine: convkit_kernels {machine['convkit_kernels']!r} is not a kernel path")
try:
    if not float(machine.get("fma_peak_gflops", "nan")) > 0:
        problems.append("machine: fma_peak_gflops is not positive")
except ValueError:
    problems.append(f"machine: fma_peak_gflops {machine['fma_peak_gflops']!r} is not a number")
problems += [f"{r['workload']}: no percent_of_peak" for r in record["results"] if r["unit"] == "GFLOP/s" and "percent_of_peak" not in r]
if problems:
    sys.exit(f"{sys.argv[1]}: " + "; ".join(problems))
print(f"bench record: {len(values)} workloads, every value positive and finite, on {record['machine']['cpu']}")
