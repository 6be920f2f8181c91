#!/usr/bin/env bash
# phases.sh runs make targets one after another, as `make test` does, and
# prints each one's time when it ends and a summary of all of them at the
# end (also after a failure, which stops the run):
#
#   bash scripts/phases.sh setup vet gotest notebooks
set -uo pipefail

names=()
times=()
summary() {
	local total=0 i
	printf '\n\033[1mphases:\033[0m\n'
	for i in "${!names[@]}"; do
		printf '  %-14s %4dm %02ds\n' "${names[$i]}" $((times[i] / 60)) $((times[i] % 60))
		total=$((total + times[i]))
	done
	printf '  %-14s %4dm %02ds\n' total $((total / 60)) $((total % 60))
}
for phase in "$@"; do
	start=$SECONDS
	${MAKE:-make} --no-print-directory "$phase"
	status=$?
	names+=("$phase")
	times+=($((SECONDS - start)))
	printf '\033[1mphase %s: %s in %dm %02ds\033[0m\n' "$phase" "$([ $status = 0 ] && echo done || echo FAILED)" \
		$(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
	if [ $status != 0 ]; then
		summary
		exit $status
	fi
done
summary
