#!/usr/bin/env bash
# run.sh runs, on a GPU machine without Go, what scripts/gpu/build.sh packed
# beside it: doctor, the family tests on the engine, GPT-2 124M training
# steps and GPT-2 124M decoding (trustformers bench), then prints a summary.
#
#   bash run.sh [--engine xla:cuda] [--quick] [--dry-run] [--run REGEX] [--results DIR]
#
# --engine   the backend spec (default xla:cuda). For xla:cuda the CUDA PJRT
#            plugin is JAX's (jax-cuda13-pjrt or jax-cuda12-pjrt in the
#            machine's Python): when PJRT_PLUGIN_LIBRARY_PATH is unset, its
#            folder is looked up in python3's site-packages and exported.
#            --engine go (or xla:cpu, onnx:cpu where installed) is the CPU
#            fallback, e.g. to check the pack on the machine that built it.
# --quick    list each test binary's tests instead of running them, a tiny
#            training model, and only bench's first token and decode b1:
#            a check of the pack in about a minute.
# --dry-run  print the commands, run only doctor.
# --run      run only the tests matching REGEX (go test -run).
# --results  where logs and summary.txt go (default $OUT if set, else ./gpu-results).
set -uo pipefail
pack="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
engine=xla:cuda quick=0 dry=0 runre="" results="${OUT:-$PWD/gpu-results}"
while [ $# -gt 0 ]; do
	case "$1" in
	--engine) engine="$2"; shift 2 ;;
	--quick) quick=1; shift ;;
	--dry-run) dry=1; shift ;;
	--run) runre="$2"; shift 2 ;;
	--results) results="$2"; shift 2 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
mkdir -p "$results"
summary="$results/summary.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }
# shellcheck disable=SC1091
build_root="$(sed -n 's/^build_root=//p' "$pack/MANIFEST")"

# The tests find their goldens through the paths they were built at
# (runtime.Caller): where that folder is missing, it becomes a link to the
# packed tree.
if [ ! -e "$build_root" ]; then
	mkdir -p "$(dirname "$build_root")" && ln -s "$pack/tree" "$build_root" ||
		{ echo "run.sh: cannot link $build_root to $pack/tree (run as a user who may create it)" >&2; exit 1; }
fi
tree="$build_root"
export TRUSTFORMERS_DATA="$pack/data" TRUSTFORMERS_BACKEND="$engine" TRUSTFORMERS_TEST_BACKEND="$engine"
[ -d "$pack/models" ] && export TRUSTFORMERS_MODELS="$pack/models"

# findCUDAPlugin prints the folder of JAX's CUDA plugin in python3's site-packages.
findCUDAPlugin() {
	local py site f
	for py in python3 /opt/torch/.venv/bin/python3 /opt/conda/bin/python3; do
		command -v "$py" >/dev/null || continue
		while read -r site; do
			for f in "$site"/jax_plugins/xla_cuda*/xla_cuda_plugin.so; do
				[ -f "$f" ] && { dirname "$f"; return 0; }
			done
		done < <("$py" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null)
	done
	return 1
}
if [[ "$engine" == xla:cuda* ]] && [ -z "${PJRT_PLUGIN_LIBRARY_PATH:-}" ]; then
	if dir="$(findCUDAPlugin)"; then
		export PJRT_PLUGIN_LIBRARY_PATH="$dir"
	else
		echo "run.sh: no jax_plugins/xla_cuda*/xla_cuda_plugin.so in python3's site-packages; set PJRT_PLUGIN_LIBRARY_PATH to its folder, or use --engine go" >&2
		[ $dry = 1 ] || exit 1
	fi
fi

say "# trustformers GPU run — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "engine: $engine   pack: $(tr '\n' ' ' <"$pack/MANIFEST")"
say "PJRT_PLUGIN_LIBRARY_PATH=${PJRT_PLUGIN_LIBRARY_PATH:-}  XLA_FLAGS=${XLA_FLAGS:-}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$summary"

status=0
# step NAME CMD... runs one step, its output into $results/NAME.log, and
# records its time and exit status.
step() {
	local name="$1" start rc
	shift
	if [ $dry = 1 ]; then
		echo "would run [$name]: $*"
		return 0
	fi
	start=$SECONDS
	"$@" >"$results/$name.log" 2>&1
	rc=$?
	[ $rc = 0 ] || status=1
	say "$(printf '%-22s exit %-3s %5ds' "$name" "$rc" $((SECONDS - start)))"
	return $rc
}

dry_save=$dry
dry=0
step doctor "$pack/bin/trustformers" doctor
dry=$dry_save
sed 's/^/  /' "$results/doctor.log" | grep -E 'backend|device|plugin|error' | head -20 | tee -a "$summary"

# The family tests, each binary in its package's folder.
say ""
say "## family tests (TRUSTFORMERS_TEST_BACKEND=$engine)"
while read -r name rel; do
	skip="$(awk -v d="$rel" '$1 == d { printf "%s%s", sep, $2; sep = "|" }' "$pack/skip.txt")"
	args=(-test.timeout 20m)
	[ -n "$skip" ] && args+=(-test.skip "^($skip)\$")
	[ -n "$runre" ] && args+=(-test.run "$runre")
	[ $quick = 1 ] && args=(-test.list .)
	[ $quick = 1 ] || args+=(-test.v)
	(cd "$tree/$rel" && step "test-$name" "$pack/bin/$name.test" "${args[@]}")
	[ $? = 0 ] || status=1
	if [ $dry = 0 ] && [ $quick = 0 ]; then
		log="$results/test-$name.log"
		say "$(printf '  pass %d  fail %d  skip %d' "$(grep -c '^--- PASS' "$log")" "$(grep -c '^--- FAIL' "$log")" "$(grep -c '^--- SKIP' "$log")")"
		grep '^--- FAIL' "$log" | head -20 | sed 's/^/  /' | tee -a "$summary"
	fi
done <"$pack/packages.txt"

# GPT-2 training steps and decoding.
say ""
say "## GPT-2 training steps"
model=124m
[ $quick = 1 ] && model=tiny
step train "$pack/bin/trainstep" -backend "$engine" -model $model -batch 8 -seq 128 -steps 6
[ $dry = 1 ] || tail -1 "$results/train.log" | tee -a "$summary"
say ""
say "## GPT-2 124M inference (trustformers bench, random weights)"
if [ $quick = 1 ]; then
	step bench "$pack/bin/trustformers" bench --backend "$engine" --reps 1 --only "first token,decode b1"
else
	step bench "$pack/bin/trustformers" bench --backend "$engine" --reps 5
	step bench-bf16 "$pack/bin/trustformers" bench --backend "$engine" --reps 3 --weights bf16 --only "decode b1,decode b8,peak rss"
	step bench-int8 "$pack/bin/trustformers" bench --backend "$engine" --reps 3 --quant int8 --only "decode b1,decode b8,peak rss"
fi
if [ $dry = 0 ]; then
	for f in "$results"/bench*.log; do
		grep '^{' "$f" | sed -E 's/,"(samples|ids)":\[[^]]*\]//g' | tee -a "$summary"
	done
fi
say ""
say "overall: $([ $status = 0 ] && echo PASS || echo FAIL)   (logs in $results)"
exit $status
