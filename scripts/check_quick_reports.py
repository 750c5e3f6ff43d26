#!/usr/bin/env python3
"""Checks the quick experiments' report folders after `make test` ran them: every trained
model beats chance (10 classes) by a clear margin, every claim carries a computed verdict, and
every figure the report shows exists, as SVG and PNG, and is not empty.

Run: python3 scripts/check_quick_reports.py .build/quick-seed000 .build/quick-seed001 …
"""
import json, os, re, sys

CHANCE, MARGIN = 0.10, 0.10   # at least 20% test accuracy where 10% is chance


def accuracies(results):
    """(label, test accuracy) of every model that was meant to learn."""
    if "models" in results:                                   # model comparisons (seed000, seed003)
        # seed003's conv models keep Keras' BatchNorm momentum (0.99): after the quick run's 63
        # steps their moving statistics are far from the data's and inference is near chance,
        # in Keras too (README, seed003). Their training accuracy is checked instead.
        def learned(m):
            if results.get("experiment") == "seed003" and m["model"] != "seed003-dense":
                return m["history"]["epochs"][-1]["accuracy"]
            return m["test_accuracy"]
        return [(m["model"], learned(m)) for m in results["models"]]
    if "runs" in results:                                     # seed002's study
        return [(r["spec"]["variant"] + " " + json.dumps(r["spec"]), r["test_accuracy"]) for r in results["runs"]]
    if "schemes" in results:
        # seed001: the 20-layer plain CNNs train in the full run only (and then only under He
        # initialisation); the quick run's single epoch on 1,000 images leaves all of them near
        # chance, which is the point of the seed. The small filters network must learn.
        return [("filters network", results["filters_test_accuracy"])]
    return []


def claims(results):
    return results.get("claims") or []


def check(folder):
    problems = []
    results = json.load(open(os.path.join(folder, "results.json")))
    measured = accuracies(results)
    if not measured:
        problems.append("no trained model found in results.json")
    problems += [f"{label}: test accuracy {acc:.3f} does not beat chance by {MARGIN}" for label, acc in measured if acc < CHANCE + MARGIN]
    for c in claims(results):
        verdict = c.get("verdict", c.get("held"))
        if verdict is None or verdict == "":
            problems.append(f"claim without a verdict: {c.get('claim')}")
    report = open(os.path.join(folder, "report.md")).read()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", report)
    for svg in figures:
        for path in (os.path.join(folder, svg), os.path.join(folder, svg[:-4] + ".png")):
            if not os.path.exists(path) or os.path.getsize(path) < 2000:
                problems.append(f"{os.path.basename(path)}: missing or empty")
    return problems, len(measured), len(claims(results)), len(figures)


failed = False
for folder in sys.argv[1:]:
    problems, models, claim_count, figure_count = check(folder)
    if problems:
        failed = True
        print(f"{folder}: " + "; ".join(problems), file=sys.stderr)
    else:
        print(f"{folder}: {models} models above chance, {claim_count} claims with verdicts, {figure_count} figures")
sys.exit(1 if failed else 0)
