#!/usr/bin/env python3
"""Renders README.md's experiment figures from the committed records in results/: the time
each recorded run trained on its machine, the seed-002 paper tier's Table 1 row, and each
seed's claims with what was measured and the verdict. No figure in these sections is typed
by hand.

Run: python3 scripts/render_readme.py           (rewrites the sections between the markers)
     python3 scripts/render_readme.py --check   (fails when README.md is stale; make test runs it)
"""
import json
import os
import re
import statistics

import marked_sections

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# What each experiment trains, in words (the figures come from its record).
EXPERIMENTS = [
    ("seed000", "kernel size against number of filters", "small CNNs, first layers and stacks of 3×3 against 7×7"),
    ("seed001", "initialisation", "a 20-layer plain CNN under each initialiser; symmetry; first-layer filters"),
    ("seed002", "random filters + linear combinations, affordable tier", "ResNet-8 runs: Table 1, E sweep, k × E grid, FGSM, filter entropy, folding"),
    ("seed002-paper", "random filters + linear combinations, the paper's scale", "ResNet-20-16 runs on all 60,000 images: Table 1, E sweep to 512, k × E grid, Table 3 ablation"),
    ("seed003", "convolution against pooling", "a dense model and three small CNNs"),
]


def load(name):
    with open(os.path.join(ROOT, "results", name, "results.json")) as f:
        return json.load(f)


def duration(seconds):
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def training_seconds(name, record):
    """Seconds spent training in the recorded run: the sum of its epochs' times."""
    if "seconds" in record:
        return record["seconds"]
    if "runs" in record:
        return sum(run["seconds_per_epoch"] * run["spec"]["epochs"] for run in record["runs"])
    recipe = record["recipe"]
    return sum(model["seconds_per_epoch"] * recipe["epochs"] * len(recipe["seeds"]) for model in record["models"])


def fastest_epoch_seconds(record):
    """Training seconds had every epoch run as fast as its run's fastest (a machine doing nothing
    else), for records whose runs keep their epochs' times; None for the others."""
    runs = record.get("runs", [])
    if not runs or not all("history" in run for run in runs):
        return None
    return sum(min(e["seconds"] for e in run["history"]["epochs"]) * run["spec"]["epochs"] for run in runs)


def claims(name, record):
    """(claim, measured, verdict) of each checked claim: from the record, or for seed001, whose
    record keeps no claim list, from its rendered report's claims table."""
    if "claims" in record:
        out = []
        for c in record["claims"]:
            if "verdict" in c:
                verdict = c["verdict"].replace("**", "")
            elif c.get("settled") is False:
                verdict = "inside the noise"
            else:
                verdict = "held" if c["held"] else "not held"
            out.append((c["claim"], c["measured"], verdict))
        return out
    with open(os.path.join(ROOT, "results", name, "report.md")) as f:
        text = f.read()
    table = text.split("## The seed's claims, checked here", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Claim")]
    out = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        out.append((cells[0], cells[1], "held" if cells[2] == "yes" else "not held"))
    return out


def tally(checked):
    counts = {}
    for _, _, verdict in checked:
        key = "held" if verdict.startswith("held") else "not held" if verdict.startswith("not held") else verdict
        counts[key] = counts.get(key, 0) + 1
    order = ["held", "not held", "inside the noise", "not measured"]
    return ", ".join(f"{counts[k]} {k}" for k in order if k in counts)


def paper_values():
    """The `paper:` block of experiments/seed002-paper.yaml: a flat mapping of numbers, read
    without a YAML library, which a fresh machine's python3 may lack."""
    with open(os.path.join(ROOT, "experiments", "seed002-paper.yaml")) as f:
        block = re.split(r"\n(?=\S)", f.read().split("\npaper:\n", 1)[1])[0]
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^  (\w+): ([0-9.]+)$", block, re.M)}


def table1(record, expansion):
    """The paper tier's Table 1 row: mean ± std (n) per variant at the Table 1 budget."""
    budget = record["budgets"]["table1"]
    cells = []
    for variant in ["baseline", "LC learned", "LC frozen"]:
        values = [100 * run["test_accuracy"] for run in record["runs"]
                  if run["spec"]["variant"] == variant and run["spec"]["epochs"] == budget["epochs"]
                  and run["spec"]["train_images"] == budget["train_images"] and run["spec"]["kernel_size"] == 3
                  and (variant == "baseline" or run["spec"]["expansion"] == expansion) and "intermediate" not in run["spec"]]
        if not values:
            cells.append(f"{variant} not recorded yet")
            continue
        spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
        cells.append(f"{variant} {statistics.mean(values):.2f}{spread} (n = {len(values)})")
    return cells, budget


def experiments():
    lines = ["| Experiment | What it trains | Recorded run: training time on 2 cores | Claims checked |", "|---|---|---:|---|"]
    for name, title, what in EXPERIMENTS:
        record = load(name)
        notes = []
        if "planned" in record:
            notes.append(f"{len(record['runs'])} of {len(record['planned'])} planned runs")
        fastest = fastest_epoch_seconds(record)
        if fastest is not None:
            notes.append(f"{duration(fastest)} at each run's fastest epoch")
        runs = f" ({'; '.join(notes)})" if notes else ""
        lines.append(f"| [`{name}`](results/{name}/report.md) {title} | {what} | {duration(training_seconds(name, record))}{runs} "
                     f"| {tally(claims(name, record))} |")
    paper = paper_values()
    expansion = int(paper["expansion"])
    cells, budget = table1(load("seed002-paper"), expansion)
    reference = ", ".join(f"{label} {paper[key]:.2f} ± {paper[key + '_std']:.2f}"
                          for label, key in [("baseline", "baseline"), ("LC learned", "lc_learned"), ("LC frozen", "lc_frozen")])
    lines += ["", f"The paper tier's Table 1 row (Fashion-MNIST, k = 3, E = {expansion}, {budget['epochs']} epochs on "
                  f"{budget['train_images']:,} images), test accuracy %: " + "; ".join(cells)
              + f". The paper's (experiments/seed002-paper.yaml): {reference}."]
    for name, title, _ in EXPERIMENTS:
        if name == "seed002":
            continue  # the affordable tier's claims are the paper tier's, at a smaller scale: see its report
        lines += ["", f"**{name}** ({title}):", ""]
        lines += [f"- {claim}: {measured} — *{verdict}*" for claim, measured, verdict in claims(name, load(name))]
    return "\n".join(lines)


def seed003_time():
    record = load("seed003")
    recipe = record["recipe"]
    per_epoch = {model["model"]: model["seconds_per_epoch"] for model in record["models"]}
    return (f"The recorded run in `results/seed003` trained for {duration(training_seconds('seed003', record))} in all "
            f"({len(record['models'])} models × {len(recipe['seeds'])} seeds × {recipe['epochs']} epochs; "
            f"{per_epoch['seed003-conv']:.1f} s per epoch for the conv model) on a 2-vCPU VM; the first release build comes on top.")


def seed003_against_keras():
    """The recorded seed-003 run's mean test accuracy ± std over seeds beside Keras trained
    the same way (the record's `reference`, from scripts/keras_experiment.py)."""
    record = load("seed003")
    reference = record["reference"]
    framework = reference["framework"]
    lines = [f"| Model | ConvKit | {framework} | Difference |", "|---|---:|---:|---:|"]

    def cell(values):
        values = [100 * v for v in values]
        return statistics.mean(values), (f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"
                                         if len(values) > 1 else f"{values[0]:.2f}")
    for model in record["models"]:
        name = model["model"]
        ours, ours_text = cell(model["test_accuracies"])
        theirs, theirs_text = cell(reference["models"][name]["test_accuracies"])
        lines.append(f"| {name} | {ours_text} | {theirs_text} | {ours - theirs:+.2f} |".replace("| -", "| −"))
    seeds = len(record["recipe"]["seeds"])
    return f"Mean test accuracy % ± standard deviation over {seeds} seeds, against Keras trained the same way:\n\n" + "\n".join(lines)


def keras_check():
    """`make verify-keras`'s last outcome (results/verify-keras.json), as a line of the Tests list."""
    with open(os.path.join(ROOT, "results", "verify-keras.json")) as f:
        record = json.load(f)
    total = record["passed"] + record["failed"]
    return (f"  Last run (`results/verify-keras.json`): {record['passed']} of {total} cases ({record['layer_cases']} layers, "
            f"{record['loss_cases']} losses) agree with Keras {record['keras']} within {record['tolerance']:.0e} relative; "
            f"the worst layer differs by {record['worst_layer_relative_error']:.1e}.")


SECTIONS = {"experiments": experiments, "seed003-time": seed003_time, "seed003-keras": seed003_against_keras,
            "keras-check": keras_check}


def main():
    marked_sections.render(ROOT, {"README.md": SECTIONS}, "scripts/render_readme.py")


if __name__ == "__main__":
    main()
