#!/usr/bin/env bash
# enginetests.sh MARKS PACKAGE-PATTERN... prints the go test arguments that
# run, of the packages the patterns name, only the tests that asked for the
# engine under test in make test's first pass: `-run '^(TestA|TestB)$'`
# followed by the packages that have such tests. The marks are the files
# <MARKS>/<package folder>/<TestName> that internal/golden.Backend leaves
# when TRUSTFORMERS_ENGINE_TESTS names MARKS. With no marks at all it fails:
# the first pass has not run (or left none), and an engine pass that ran
# nothing must not look like one that passed.
set -euo pipefail
marks="$1"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="$(cd "$root" && go list -m)"
pkgs=()
names=()
while read -r pkg; do
	rel="${pkg#"$module"}"
	rel="${rel#/}"
	[ -d "$marks/$rel" ] || continue
	found=0
	for f in "$marks/$rel"/*; do
		[ -f "$f" ] || continue
		names+=("$(basename "$f")")
		found=1
	done
	[ $found = 1 ] && pkgs+=("./$rel")
done < <(cd "$root" && go list "$@")
if [ ${#pkgs[@]} = 0 ]; then
	echo "enginetests.sh: no engine-dependent tests marked in $marks for $*: run the first pass (make gotest-go) first" >&2
	exit 1
fi
regex="$(printf '%s\n' "${names[@]}" | sort -u | paste -sd '|')"
echo "-run ^($regex)\$ ${pkgs[*]}"
