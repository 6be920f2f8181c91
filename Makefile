# trustformers-go: set-up, tests, notebooks.
#
#   make notebook   install everything (make setup), then serve notebooks/ on 127.0.0.1:8888
#   make test       install everything, go vet, go test, run every notebook in headless Chromium
#
# Every target builds with Go 1.27 (fetched by the go command) and
# GOEXPERIMENT=simd, without which GoMLX's go backend loses its AVX2/AVX-512
# kernels and runs about 10x slower.

export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd
# Nothing is downloaded at run time unless asked for (see xla/ and README).
export GOMLX_NO_AUTO_INSTALL := 1
export ONNXRUNTIME_SHARED_LIBRARY_PATH := $(CURDIR)/.deps/onnxruntime/libonnxruntime.so.1
export TRUSTFORMERS_ECHARTS_JS := $(CURDIR)/.deps/echarts/echarts.min.js
export PJRT_PLUGIN_LIBRARY_PATH := $(CURDIR)/.deps/pjrt
export TRUSTFORMERS_DATA ?= $(abspath $(CURDIR)/../shared/data)
export PATH := $(CURDIR)/.deps/bin:$(PATH)

export JUPYTER_IP ?= 127.0.0.1
export JUPYTER_PORT ?= 8888
GO_TEST_FLAGS ?= -timeout 30m

.PHONY: setup notebook test test-quick tidy-check vet gotest gotest-go gotest-onnx gotest-xla notebooks celltime assets bench doctor sharding-bench reference venv

## setup: Debian packages, Go tools, GoNB kernel, echarts and ONNX Runtime from npm (idempotent)
setup:
	bash scripts/setup.sh

## notebook: set up, then serve notebooks/ with Jupyter on $(JUPYTER_IP):$(JUPYTER_PORT), behind a token
## (JUPYTER_TOKEN, else a random one printed with the URL; see scripts/notebook.sh)
notebook: setup
	bash scripts/notebook.sh

## test: set up, check go.mod is tidy, vet, run the Go tests, then execute every notebook and check it;
## each phase's time is printed when it ends, and all of them at the end (scripts/phases.sh)
test:
	bash scripts/phases.sh setup tidy-check vet gotest-go gotest-onnx gotest-xla notebooks

## test-quick: the inner loop: vet and every Go test on the go engine (no other engine, no browser)
test-quick:
	bash scripts/phases.sh vet gotest-go

## tidy-check: fail, showing the difference, when `go mod tidy` would change go.mod or go.sum (a module
## imported directly but marked // indirect, one no longer used, a missing checksum)
tidy-check:
	@if ! diff=$$(go mod tidy -diff 2>&1); then \
		printf '%s\n' "$$diff" >&2; \
		echo "tidy-check: go.mod or go.sum is not what go mod tidy makes of the code: run go mod tidy and commit the result" >&2; \
		exit 1; \
	fi

vet:
	go vet ./...

# TRUSTFORMERS_REQUIRE_SETUP turns "not installed" skips into failures: after
# `make setup` every engine and tool the tests use must be present.
# The first pass runs every test on the go engine, and the sharded tests
# (TestSharded*) on four host devices of XLA's CPU plugin. Each test that asks
# internal/golden for the engine under test leaves a mark in ENGINE_MARKS; the
# passes on the other engines run the marked tests of the model families,
# generation, training and quantization, and no others, which would do the
# same work on any engine (scripts/enginetests.sh). The sharded tests do not
# depend on the engine either: not again.
ENGINE_MARKS := $(CURDIR)/build/engine-tests
ENGINE_PACKAGES := ./models/... ./quant/ ./training/
gotest: gotest-go gotest-onnx gotest-xla

# Without the marks (a fresh clone, or build/ removed) nothing may come from
# go test's cache, whose results would leave none.
gotest-go:
	TRUSTFORMERS_REQUIRE_SETUP=1 TRUSTFORMERS_ENGINE_TESTS=$(ENGINE_MARKS) go test $(GO_TEST_FLAGS) \
		$$([ -d $(ENGINE_MARKS) ] || echo -count=1) ./...

gotest-onnx gotest-xla: gotest-%:
	args="$$(bash scripts/enginetests.sh $(ENGINE_MARKS) $(ENGINE_PACKAGES))" && \
	TRUSTFORMERS_REQUIRE_SETUP=1 TRUSTFORMERS_TEST_BACKEND=$*:cpu go test $(GO_TEST_FLAGS) -skip '^TestSharded' $$args

## notebooks: run every notebook as a user does, through Jupyter's page in headless Chromium
## (scripts/browser/notebooks.js): Cell › Run All, then no error output, no console error, no request
## outside the loopback server, every chart drawn and fitted to its output, the saved copy reopened and
## exported to HTML with its charts drawn again; first a self-test on a notebook that breaks each rule.
## Screenshots and saved copies in build/browser.
notebooks:
	node scripts/browser/notebooks.js --self-test --out build/browser/self-test
	node scripts/browser/notebooks.js --out build/browser

## celltime: time a notebook cell that loads GPT-2 124M-shaped weights and generates 20 tokens, cold and warm
celltime:
	go run ./scripts/celltime

## doctor: report backends, devices and build settings
doctor:
	go run ./cmd/trustformers doctor

## assets: download the test assets of ../shared/data from their public homes (needs the network)
assets:
	bash scripts/assets.sh "$(TRUSTFORMERS_DATA)"

## venv: .deps/venv for the reference scripts and make bench: PyTorch 2, Transformers, sentence-transformers,
## PEFT, TRL, datasets and gguf (wheels pinned and hash-checked by scripts/reference/requirements.txt, ~3 GB with PyTorch's
## CUDA libraries), and llama-cpp-python built from its pinned source once (~12 min; the wheel is kept in
## .deps/wheels-llama). Needs PyPI; not part of make test.
VENV := .deps/venv
LLAMA_CPP_WHEELS := .deps/wheels-llama
venv:
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes --only-binary=:all: -r scripts/reference/requirements.txt
	ls $(LLAMA_CPP_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
		$(VENV)/bin/pip wheel -q --require-hashes --no-deps --no-binary llama-cpp-python -w $(LLAMA_CPP_WHEELS) -r scripts/reference/requirements-llama-cpp.txt
	$(VENV)/bin/pip install -q --no-deps --find-links $(LLAMA_CPP_WHEELS) -r scripts/reference/requirements-llama-cpp.txt

## reference: regenerate every golden made by Hugging Face's classes, the real checkpoints' references and the
## interop goldens under models/testdata (in .deps/venv; not part of make test)
reference: setup venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/make_goldens.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/goldens_qwen.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/goldens_gemma.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/goldens_phi3.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/goldens_mixtral.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/goldens_mamba.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -W ignore scripts/reference/gguf_families.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/hooks.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/generation.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/chat_templates.py
	$(VENV)/bin/python scripts/reference/jinja_cases.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/losses.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/sft_data.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/pipelines.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/real_checkpoints.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python scripts/reference/gemma3_270m.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -W ignore scripts/reference/interop.py

## bench: our engines beside PyTorch 2 + Hugging Face and llama.cpp on GPT-2 124M / BERT-base shapes, then
## beside llama.cpp on the real SmolLM2 Q4_1 and Gemma 3 Q4_K_M files; writes docs/benchmarks.md (needs make venv; not part of make test)
bench: setup venv
	go build -o build/trustformers ./cmd/trustformers
	build/trustformers bench --compare --reps 5 --out docs/benchmarks.md
	build/trustformers bench --compare-files $(BENCH_FILES) --reps 3 --out docs/benchmarks.md

## The real checkpoints make bench measures beside llama.cpp on the same file (make setup installs them)
BENCH_FILES := .deps/models/SmolLM2-135M-Instruct.Q4_1.gguf,.deps/models/gemma-3-270m-q4_k_m.gguf

## sharding-bench: our sharded training beside JAX's (jax.jit + NamedSharding) on 1, 2 and 4 host
## devices; writes docs/sharding.md's table and JAX's losses for the test (needs PyPI; not part of make test)
sharding-bench: setup
	test -x .deps/venv-jax/bin/python || python3 -m venv .deps/venv-jax
	.deps/venv-jax/bin/pip install -q --require-hashes --only-binary=:all: -r scripts/sharding/requirements.txt
	go run ./scripts/sharding -python .deps/venv-jax/bin/python -golden training/testdata/jax_sharded.json -out docs/sharding.md
