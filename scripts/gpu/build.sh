#!/usr/bin/env bash
# build.sh makes, on a machine with Go, what scripts/gpu/run.sh needs on a
# GPU machine without a Go toolchain: the family tests as test binaries
# (`go test -c`), the trustformers binary (bench), the trainstep program
# (GPT-2 training steps), the test data they read, and run.sh itself, in one
# folder and one archive:
#
#   bash scripts/gpu/build.sh [--out build/gpu] [--models]
#
# --models also packs the real checkpoints of .deps/models (SmolLM2, Gemma 3,
# MiniLM: ~440 MB) for the tests that read them; without it those tests are
# skipped on the GPU machine (their names are listed in skip.txt). The
# archive is <out>/trustformers-gpu.tar.xz; docs/devices.md says how to run it.
# PKGS overrides the test packages (space-separated, ./-relative).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/build/gpu"
models=0
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
	--models) models=1; shift ;;
	*) echo "build.sh: unknown argument $1 (want --out DIR, --models)" >&2; exit 2 ;;
	esac
done
pkgs=(${PKGS:-./models/gpt2 ./models/bert ./models/llama ./models/qwen ./models/gemma ./models/phi3 ./models/mixtral ./models/mamba ./models ./models/generate ./training})
export GOEXPERIMENT=simd GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
lock() { if command -v flock >/dev/null; then flock /tmp/tf-build.lock "$@"; else "$@"; fi; }

pack="$out/trustformers-gpu"
rm -rf "$pack"
mkdir -p "$pack/bin" "$pack/tree"
cd "$root"
# Stripped (-s -w): a third smaller; the tests' file paths (runtime.Caller)
# stay those of this checkout, which run.sh recreates as a link.
ldflags='-s -w'
lock go build -ldflags="$ldflags" -o "$pack/bin/trustformers" ./cmd/trustformers
lock go build -ldflags="$ldflags" -o "$pack/bin/trainstep" ./scripts/gpu/trainstep
: >"$pack/packages.txt"
for p in "${pkgs[@]}"; do
	rel="${p#./}"
	name="$(echo "${rel:-root}" | tr / _)"
	lock go test -c -ldflags="$ldflags" -o "$pack/bin/$name.test" "$p"
	printf '%s %s\n' "$name" "${rel:-.}" >>"$pack/packages.txt"
	mkdir -p "$pack/tree/$rel"
done
# Every testdata folder (goldens, tokenizers, fixtures: ~12 MB), at its place.
while read -r d; do
	mkdir -p "$pack/tree/$(dirname "$d")"
	cp -r "$d" "$pack/tree/$d"
done < <(find . -name testdata -type d -not -path './.deps/*' -not -path './build/*' | sed 's|^\./||')
cp go.mod "$pack/tree/"
# The downloaded assets (TRUSTFORMERS_DATA, ../shared/data: ~5 MB).
data="${TRUSTFORMERS_DATA:-$root/../shared/data}"
[ -d "$data" ] && cp -rL "$data" "$pack/data"
if [ $models = 1 ]; then
	cp -rL "${TRUSTFORMERS_MODELS:-$root/.deps/models}" "$pack/models"
	: >"$pack/skip.txt"
else
	bash "$root/scripts/gpu/needsmodels.sh" "$root" >"$pack/skip.txt"
fi
cp scripts/gpu/run.sh "$pack/run.sh"
{
	echo "build_root=$root"
	echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo +changes)"
	echo "go=$(go env GOVERSION) GOEXPERIMENT=$GOEXPERIMENT"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "models=$models"
} >"$pack/MANIFEST"
# xz, which every Linux image has; the test binaries share little byte for
# byte (each links its own copy of GoMLX and the engines), so the archive is
# about a fifth of the folder. It is also cut into parts of at most 30 MiB
# for a device tool that carries less than the whole at once:
#   cat trustformers-gpu.tar.xz.part-* | tar -xJf -
archive="$out/trustformers-gpu.tar.xz"
rm -f "$archive" "$archive".part-*
tar -C "$out" -cf - trustformers-gpu | nice xz -T0 -6 >"$archive"
split -b 30m -d "$archive" "$archive.part-"
echo "build.sh: $pack ($(du -sh "$pack" | cut -f1)); archive $archive ($(du -h "$archive" | cut -f1)), in $(ls "$archive".part-* | wc -l) parts"
