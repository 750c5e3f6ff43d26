#!/usr/bin/env python3
"""Renders the sections of BENCHMARKS.md that come from committed bench records, so that no
figure there is typed by hand. Each section sits between its markers:

    <!-- BEGIN lc-resnet20 (scripts/render_benchmarks.py) -->
    …
    <!-- END lc-resnet20 -->

Each machine's records sit in a folder of their own, bench/results/DATE-CPU/ (named by
scripts/bench-results-dir.sh), and each section has one table per folder, newest first:

peers: `make bench` writes peers.json (every workload, ConvKit and the peers side by side,
OpenBLAS pinned to Haswell), peers-memory.json (conv-model training alone, peak memory) and
peers-blas-unpinned.json (the same without the pin).

lc-resnet20: `make bench-lc` writes lc-throughput.json (one run, ConvKit and PyTorch side by
side) and lc-memory-*.json (one process per network).

README.md's speed-summary section quotes, per workload, the range of ConvKit ÷ best peer over
every folder's peers.json.

Run: python3 scripts/render_benchmarks.py [--check]   (--check: fail if a file is stale)
"""
import glob, json, os

import marked_sections

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RESULTS = os.path.join(ROOT, "bench", "results")


def machines(record_name):
    """The result folders holding `record_name`, newest first."""
    return sorted((os.path.dirname(p) for p in glob.glob(os.path.join(RESULTS, "*", record_name))), reverse=True)


def load(folder, name):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def heading(record, folder):
    m = record["machine"]
    return (f"### {m['cpu']}, family {m['cpu_family']} model {m['cpu_model']} ({m['isa']}), "
            f"{record['date'][:10]} (`bench/results/{os.path.basename(folder)}`)")


def rows(record):
    return {r["workload"]: r for r in record["results"]}


def machine_line(record):
    m = record["machine"]
    peers = ", ".join(f"{v} on {record['peer_threads'][k]} threads" for k, v in sorted(record["peer_versions"].items()))
    peak = f", FMA peak {float(m['fma_peak_gflops']):,.0f} GFLOP/s at that width" if "fma_peak_gflops" in m else ""
    pin = f" (OPENBLAS_CORETYPE {m['openblas_coretype']})" if "openblas_coretype" in m else ""
    if "openblas_chosen_by" in m:
        pin = f" (OPENBLAS_CORETYPE {m['openblas_coretype']}, chosen by {m['openblas_chosen_by']})"
    return (f"{record['date'][:10]}, `{record['command']}`: {m['cpu']} (family {m['cpu_family']} model {m['cpu_model']}; "
            f"{m['isa']}), {m['cores']} cores; ConvKit's kernels {m['convkit_kernels']} on {m['convkit_threads']} threads{peak}, "
            f"OpenBLAS {m['openblas_kernels']}{pin}; peers: {peers}.")


PEERS = [("keras", "Keras"), ("torch", "PyTorch"), ("onnxruntime", "onnxruntime")]
# The targets of the issue that asked for the AVX-512 work (18): ConvKit ÷ best peer.
TARGETS = {"conv_model/train": 2.0, "pool_model/train": 2.0, "dense_model/train": 1.5, "conv_model/infer": 1.5,
           "conv2d_64_32/forward": 1.5, "conv2d_64_32/forward_backward": 1.5,
           "resnet20/train": 1.5}


def peers_table(record, memory=None):
    names = [(key, label) for key, label in PEERS if key in record["peer_versions"]]
    out = ["| workload | ConvKit | " + " | ".join(label for _, label in names) + " | ConvKit ÷ best peer | target | unit |",
           "|---|---:|" + "---:|" * len(names) + "---:|---|---|"]
    results = list(record["results"])
    if memory:
        results += [dict(r, workload="peak_memory (conv_model/train alone)") for r in memory["results"] if r["workload"] == "peak_memory"]
    for r in results:
        if r["workload"] == "peak_memory":
            continue
        cells = [f"{r['peers'][key]:,.0f}" if key in r["peers"] else "–" for key, _ in names]
        ratio = r.get("ratio_vs_best_peer")
        memory_row = r["workload"].startswith("peak_memory")
        target = TARGETS.get(r["workload"])
        ratio_text = "–" if ratio is None else ratio_figure(ratio, target) + "×" + (" less" if memory_row else "")
        target_text = f"≥ {target}× {verdict(ratio >= target)}" if target and ratio is not None else "–"
        unit = r["unit"] + (f" ({r['percent_of_peak']:.0f}% of peak)" if "percent_of_peak" in r else "")
        out.append(f"| {r['workload']} | {r['convkit']:,.0f} | " + " | ".join(cells) + f" | {ratio_text} | {target_text} | {unit} |")
    return out


def peers_section():
    out = []
    for folder in machines("peers.json"):
        pinned = load(folder, "peers.json")
        memory = load(folder, "peers-memory.json") if os.path.exists(os.path.join(folder, "peers-memory.json")) else None
        out += [heading(pinned, folder), "", machine_line(pinned), ""] + peers_table(pinned, memory)
        if memory:
            out += ["", f"Peak memory: {memory['date'][:10]}, `{memory['command']}`, each framework in its own process."]
        if os.path.exists(os.path.join(folder, "peers-blas-unpinned.json")):
            unpinned = load(folder, "peers-blas-unpinned.json")
            out += ["", "The same without the OpenBLAS pin (`env -u OPENBLAS_CORETYPE`, this command alone; the peers bring "
                    "their own GEMM): " + machine_line(unpinned), ""] + peers_table(unpinned)
        out.append("")
    return "\n".join(out).rstrip("\n")


def speed_summary():
    """README's ranges: ConvKit ÷ best peer per workload over every pinned run (one per machine and day)."""
    records = [load(folder, "peers.json") for folder in machines("peers.json")]
    cpus = "; ".join(f"{r['machine']['cpu']} family {r['machine']['cpu_family']} model {r['machine']['cpu_model']} "
                     f"({r['machine']['convkit_kernels']} kernels, {r['date'][:10]})" for r in records)
    runs_text = "one run" if len(records) == 1 else f"{len(records)} runs"
    out = [f"ConvKit ÷ the best of Keras, PyTorch and onnxruntime in {runs_text} of `make bench` ({cpus}), with "
           "OpenBLAS pinned to its Haswell kernels (BENCHMARKS.md has the unpinned runs); each ratio from one "
           "interleaved run with every framework on the same threads, the range over the runs:", ""]
    workloads = [w for w in rows(records[0]) if w != "peak_memory" and all(w in rows(r) for r in records)]
    for w in workloads:
        ratios = [rows(r)[w].get("ratio_vs_best_peer") for r in records]
        if any(x is None for x in ratios):
            continue
        low, high = min(ratios), max(ratios)
        low_text, high_text = ratio_figure(low, TARGETS.get(w)), ratio_figure(high, TARGETS.get(w))
        span = f"{low_text}×" if low_text == high_text else f"{low_text}–{high_text}×"
        out.append(f"- `{w}`: {span}")
    return "\n".join(out)


def ratio_figure(ratio, target=None):
    """Two decimals, or three where two would round across the target (1.4993 against 1.5
    reads 1.499, not a 1.50 marked short)."""
    text = f"{ratio:.2f}"
    if target is not None and (float(text) >= target) != (ratio >= target):
        text = f"{ratio:.3f}"
    return text


def verdict(ok):
    return "✔" if ok else "✘"


def lc_machine(folder):
    throughput = load(folder, "lc-throughput.json")
    ours = rows(throughput)
    plain = ours["resnet20/train"]["convkit"]
    out = [heading(throughput, folder), "", machine_line(throughput), ""]
    out += ["| workload | ConvKit img/s | PyTorch img/s | ConvKit ÷ PyTorch | ÷ plain ResNet-20 (ConvKit) | target |",
            "|---|---:|---:|---:|---:|---|"]
    for name, r in ours.items():
        torch = r["peers"].get("torch")
        ratio_plain = r["convkit"] / plain
        targets = []
        if "e128" in name:
            targets.append(f"≥ 0.8× plain {verdict(ratio_plain >= 0.8)}")
            if torch:
                targets.append(f"≥ 50× PyTorch {verdict(r['convkit'] / torch >= 50)}")
        versus_torch = f"{r['convkit'] / torch:,.1f}×" if torch else "–"
        torch_text = f"{torch:,.1f}" if torch else "–"
        out.append(f"| {name} | {r['convkit']:,.0f} | {torch_text} | {versus_torch} | {ratio_plain:.2f}× | {', '.join(targets) or '–'} |")
    out += ["", "PyTorch builds each LC-block as the paper does (two Conv2d layers, the middle tensor kept). At E = 128 "
            "its step takes seconds, so it runs at batch 16 with one warm-up and one timed step; ConvKit runs batch 128."]

    memory = {}
    for path in sorted(glob.glob(os.path.join(folder, "lc-memory-*.json"))):
        record = load(folder, os.path.basename(path))
        workload = next(r["workload"] for r in record["results"] if r["workload"] != "peak_memory")
        memory[workload] = (rows(record), record)
    if memory:
        out += ["", "Peak resident memory, each network trained alone in its own process (`--only NAME`). "
                "*Parameter state* is 4 bytes × (every parameter + a gradient and a Nesterov velocity for each "
                "trainable one): the weights themselves, which the paper's block has at any E. "
                "*Activations and the rest* is the peak less that.", "",
                "| network | peak MB | parameter state MB | activations and the rest MB | ÷ same at E = 1 (peak) | ÷ same at E = 1 (rest) | PyTorch peak MB |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for workload, (r, record) in memory.items():
            peak = r["peak_memory"]["convkit"]
            state = r[workload].get("parameter_state_mb", 0)
            base = None
            if "e128" in workload:
                base = memory.get(workload.replace("e128", "e1"))
            if base:
                base_peak = base[0]["peak_memory"]["convkit"]
                base_state = base[0][workload.replace("e128", "e1")].get("parameter_state_mb", 0)
                ratio_peak = peak / base_peak
                ratio_rest = (peak - state) / (base_peak - base_state)
                ratios = f"{ratio_peak:.2f}× {verdict(ratio_peak <= 1.25)} | {ratio_rest:.2f}× {verdict(ratio_rest <= 1.25)}"
            else:
                ratios = "– | –"
            torch_peak = r["peak_memory"]["peers"].get("torch")
            out.append(f"| {workload} | {peak:,.0f} | {state:,.0f} | {peak - state:,.0f} | {ratios} | "
                       f"{f'{torch_peak:,.0f}' if torch_peak else '–'} |")
        first = next(iter(memory.values()))[1]
        out += ["", f"Memory runs: {first['date'][:10]}, same machine, `make bench-lc` "
                "(each `convkit bench --peers --quick --rounds 1 --only NAME`). PyTorch's E = 128 figures are at batch 16, "
                "ConvKit's at 128."]
    return "\n".join(out)


def lc_section():
    return "\n\n".join(lc_machine(folder) for folder in machines("lc-throughput.json"))


SECTIONS = {"BENCHMARKS.md": {"peers": peers_section, "lc-resnet20": lc_section}, "README.md": {"speed-summary": speed_summary}}


def main():
    marked_sections.render(ROOT, SECTIONS, "scripts/render_benchmarks.py")


if __name__ == "__main__":
    main()
