# ConvKit — the two commands of the README, and helpers.
#   make run    install what is missing, build, run the main job (the seed-003 experiment)
#   make test   install what is missing (and openmpi-bin), run every seed experiment quickly end to end,
#               the resume, MPI and ONNX checks, then the whole test suite

SWIFT ?= swift
MODELS := models/seed003-dense.yaml models/seed003-conv.yaml models/seed003-conv-maxpool.yaml \
          models/seed003-conv-avgpool.yaml models/seed000-conv3x3-64.yaml models/seed000-conv7x7-32.yaml

.PHONY: deps build run quick experiments summaries bench bench-lc bench-dense-bound bench-kernels bench-mpi test example docs fixtures verify-keras verify-safetensors verify-onnx keras-models onnx-proto fuzz keras-reference clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product convkit

run: build
	.build/release/convkit experiment seed003

# The CI-sized version of the same experiment (under a minute).
quick: build
	.build/release/convkit experiment seed003 --quick

# Every seed's experiment at full size (about 2 hours on 2 cores; see README for each).
experiments: build
	for e in seed000 seed001 seed002 seed003; do .build/release/convkit experiment $$e || exit 1; done

# ConvKit against its peers, side by side (installs tensorflow-cpu, torch and onnxruntime from pip once):
# with OpenBLAS pinned to its Haswell kernels (as tests and CI run), conv-model training alone for each
# one's peak memory, and with the pin removed for this command alone (OpenBLAS picks by CPU model, or
# ConvKit's start-up check by its flags); then
# BENCHMARKS.md's section rendered from the records (bench/results/DATE-CPU/, one folder per machine and day).
bench: build
	bash scripts/install-peers.sh
	dir=$$(bash scripts/bench-results-dir.sh) && mkdir -p $$dir && \
	OPENBLAS_CORETYPE=Haswell .build/release/convkit bench --peers --rounds 2 --json $$dir/peers.json && \
	OPENBLAS_CORETYPE=Haswell .build/release/convkit bench --peers --rounds 2 --only conv_model/train --json $$dir/peers-memory.json && \
	env -u OPENBLAS_CORETYPE .build/release/convkit bench --peers --rounds 1 --json $$dir/peers-blas-unpinned.json
	python3 scripts/render_benchmarks.py

# Seed 002's networks (BENCHMARKS.md, "LC-blocks"): ResNet-20-16 and LC-ResNet-20-16 at E = 8 and
# 128 against PyTorch's two-layer blocks, throughput in one run; then each network's peak memory
# in a process of its own; then the BENCHMARKS.md section rendered from those records.
LC_MEMORY := resnet20/train lc_resnet20_e1_frozen/train lc_resnet20_e1_learned/train \
             lc_resnet20_e128_frozen/train lc_resnet20_e128_learned/train
bench-lc: build
	bash scripts/install-peers.sh
	dir=$$(bash scripts/bench-results-dir.sh) && mkdir -p $$dir && \
	.build/release/convkit bench --peers --rounds 2 --only resnet20/,lc_resnet20_e8,lc_resnet20_e128 --json $$dir/lc-throughput.json && \
	for w in $(LC_MEMORY); do \
	  .build/release/convkit bench --peers --quick --rounds 1 --only $$w --json $$dir/lc-memory-$$(dirname $$w).json || exit 1; \
	done
	python3 scripts/render_benchmarks.py

# The dense model's training step with only its sgemm calls, next to ConvKit's whole step:
# the ceiling OpenBLAS sets on dense training (docs/performance-notebook.md), with the Haswell
# pin and with the kernels ConvKit picks unpinned (BLASCore.swift's rule: SkylakeX where the
# CPU has AVX-512 F/BW/VL/DQ); then its batch-1 forward products by sgemm and by sgemv
# (GEMM.swift's choice), with the pin and without.
UNPINNED_BLAS_CORE = $(shell awk '/^flags/ { n = 0; for (i = 1; i <= NF; i++) if ($$i ~ /^avx512(f|bw|vl|dq)$$/) n++; print (n == 4 ? "SkylakeX" : "Haswell"); exit }' /proc/cpuinfo)
bench-dense-bound: build
	cc -O2 bench/bounds/dense_gemm_step.c -o .build/dense-gemm-step $$(pkg-config --cflags --libs openblas) -lpthread
	for core in Haswell $(UNPINNED_BLAS_CORE); do for i in 1 2 3; do \
	  OPENBLAS_CORETYPE=$$core .build/dense-gemm-step; \
	  OPENBLAS_CORETYPE=$$core .build/release/convkit bench --only dense_model/train | grep '^dense'; \
	done; done
	cc -O2 bench/bounds/dense_batch1.c -o .build/dense-batch1 $$(pkg-config --cflags --libs openblas)
	for core in Haswell $(UNPINNED_BLAS_CORE); do OPENBLAS_CORETYPE=$$core .build/dense-batch1; done

# Each kernel path of CKernels on one core, the convolutions of the workloads above, in effective
# GFLOP/s: how the tiles were chosen (docs/performance-notebook.md). Clang, as SwiftPM builds them: GCC -O2
# leaves the tiles far slower.
bench-kernels:
	clang -O2 -ISources/CKernels/include bench/bounds/kernel_paths.c Sources/CKernels/conv_kernels.c -o .build/kernel-paths -lm
	.build/kernel-paths

# Data-parallel scaling: 1 process against 2 and 4 MPI ranks (BENCHMARKS.md; about 8 minutes).
bench-mpi: build
	@bash scripts/install-deps.sh openmpi-bin
	bash scripts/bench-mpi.sh

summaries: build
	.build/release/convkit summary $(MODELS)

# The quick experiments first, so the test runner's summary is the last line.
test:
	@bash scripts/install-deps.sh openmpi-bin
	$(SWIFT) build -c release --product convkit
	for e in seed000 seed001 seed002 seed003; do \
	  .build/release/convkit experiment $$e --quick --out .build/quick-$$e && \
	  test -s .build/quick-$$e/report.html && test -s .build/quick-$$e/results.json || exit 1; \
	done
	test -s .build/quick-seed003/accuracy.png && test -s .build/quick-seed001/activation-std.png
	test -s .build/quick-seed002/accuracy-expansion.png && test -s .build/quick-seed000/parameters-accuracy.png
	python3 scripts/check_quick_reports.py .build/quick-seed000 .build/quick-seed001 .build/quick-seed002 .build/quick-seed003
	bash scripts/test-resume.sh
	bash scripts/test-mpi.sh
	$(MAKE) verify-onnx
	.build/release/convkit bench --quick --rounds 1 --json .build/bench-quick.json
	python3 scripts/check_bench_record.py .build/bench-quick.json
	python3 scripts/render_benchmarks.py --check
	python3 scripts/render_readme.py --check
	$(MAKE) example
	$(MAKE) docs
	$(SWIFT) test

# The example package (Examples/TrainSmallCNN): ConvKit used as a library by another package.
example:
	cd Examples/TrainSmallCNN && $(SWIFT) run -c release

# The DocC catalog of the library (Sources/ConvKit/ConvKit.docc) as a static website in .build/docs.
docs:
	$(SWIFT) package --disable-sandbox --allow-writing-to-directory .build/docs generate-documentation --target ConvKit \
	  --transform-for-static-hosting --output-path .build/docs --warnings-as-errors

# Regenerates the NumPy reference values the forward tests compare against.
fixtures:
	python3 scripts/make_fixtures.py

# Checks those reference values against Keras itself (downloads tensorflow-cpu once).
verify-keras:
	python3 -c "import keras" 2>/dev/null || pip install -q tensorflow-cpu
	python3 scripts/check_fixtures_with_keras.py
	python3 scripts/render_readme.py

# Reads ConvKit's weights with the reference safetensors package, and ConvKit reads its files.
verify-safetensors: build
	python3 -c "import safetensors" 2>/dev/null || pip install -q safetensors
	python3 scripts/check_safetensors.py

# Exports models of every layer type to ONNX and checks onnxruntime's outputs against ConvKit's.
verify-onnx: build
	python3 -c "import onnxruntime, onnx" 2>/dev/null || pip install -q onnxruntime onnx
	python3 scripts/check_onnx.py

# Regenerates the Keras 3 models that `convkit import` is tested against (needs tensorflow-cpu).
keras-models:
	python3 -c "import keras" 2>/dev/null || pip install -q tensorflow-cpu
	python3 scripts/make_keras_models.py

# Regenerates Sources/ConvKitONNX/onnx.pb.swift from the onnx package's onnx.proto, with protoc
# (apt: protobuf-compiler) and swift-protobuf's plugin built once outside the package.
onnx-proto:
	python3 -c "import onnx" 2>/dev/null || pip install -q onnx
	command -v protoc >/dev/null || apt-get install -y -qq protobuf-compiler
	test -d .build/swift-protobuf || git clone -q --branch 1.39.0 https://github.com/apple/swift-protobuf .build/swift-protobuf
	cd .build/swift-protobuf && $(SWIFT) build -c release --product protoc-gen-swift
	cd "$$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')" && \
	  protoc --plugin=$(CURDIR)/.build/swift-protobuf/.build/release/protoc-gen-swift --swift_out=$(CURDIR)/Sources/ConvKitONNX onnx.proto

# libFuzzer on every reader (IDX/gzip, safetensors, .npy, model files, PNG/PGM): FUZZ_RUNS
# inputs each, from the seed inputs in Fuzz/corpus; a crashing input lands in .build/fuzz/.
# Each campaign is recorded in Fuzz/campaigns.json (scripts/fuzz_campaign.py): commit it.
# Leak detection is off: Foundation leaks a buffer when it reads an empty file.
FUZZ_RUNS ?= 1000000
fuzz:
	cd Fuzz && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
	for t in idx safetensors npy model image; do \
	  mkdir -p .build/fuzz/$$t && cp Fuzz/corpus/$$t/* .build/fuzz/$$t/ && \
	  ASAN_OPTIONS=detect_leaks=0 FUZZ_TARGET=$$t Fuzz/.build/release/FuzzReaders -runs=$(FUZZ_RUNS) -max_len=4096 -timeout=10 -detect_leaks=0 \
	    -print_final_stats=1 -artifact_prefix=.build/fuzz/crash-$$t- .build/fuzz/$$t > .build/fuzz/$$t.log 2>&1; \
	  status=$$?; tail -n 12 .build/fuzz/$$t.log; [ $$status -eq 0 ] || exit $$status; \
	done
	python3 scripts/fuzz_campaign.py

# Trains the seed-003 models in Keras with the same recipe (reference/seed003-keras.json).
keras-reference:
	python3 scripts/keras_experiment.py experiments/seed003.yaml

clean:
	rm -rf .build
