#!/usr/bin/env bash
# needsmodels.sh ROOT prints, one per line as "<package folder> <TestName>",
# the tests of ROOT that read a real checkpoint (assets.RequireModel), directly
# or through a helper of their own file: run.sh skips them when the pack
# holds no checkpoints (build.sh without --models).
set -euo pipefail
cd "$1"
grep -rl --include='*_test.go' 'RequireModel' . | grep -v '^./\.deps/' | sort | while read -r f; do
	awk -v dir="$(dirname "${f#./}")" '
		/^func / { name = $2; sub(/\(.*/, "", name); if ($2 ~ /^\(/) { name = $4; sub(/\(.*/, "", name) } }
		/^func / { body[name] = "" }
		{ body[name] = body[name] "\n" $0 }
		/RequireModel/ { uses[name] = 1 }
		END {
			# Helpers that read a checkpoint, then the tests that call them.
			for (n in body) if (n ~ /^Test/ && uses[n]) print dir, n
			for (n in body) if (n ~ /^Test/ && !uses[n]) for (h in uses) if (h !~ /^Test/ && index(body[n], h "(")) { print dir, n; break }
		}' "$f"
done | sort -u
