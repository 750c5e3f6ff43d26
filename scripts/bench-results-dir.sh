#!/usr/bin/env bash
# Prints the folder `make bench` and `make bench-lc` write this machine's records to:
# bench/results/<date>-<cpu>-f<family>m<model>-<isa>, so that runs on different CPUs sit apart.
set -euo pipefail
field() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2 | xargs; }
# "Intel(R) Xeon(R) Processor" → intel-xeon: trademarks and the generic word dropped.
name=$(field "model name" | sed -E 's/\((R|TM)\)//gI; s/ (Processor|CPU)\b//g' | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/-$//')
isa=avx2
grep -qw avx512f /proc/cpuinfo && isa=avx512
grep -qw avx2 /proc/cpuinfo || isa=generic
echo "bench/results/$(date -u +%F)-$name-f$(field "cpu family")m$(field model)-$isa"
