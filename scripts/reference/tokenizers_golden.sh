#!/bin/sh
# tokenizers_golden.sh regenerates the tokenizer goldens in
# models/tokenizer/testdata from independent implementations:
# tiktoken and Hugging Face's tokenizers from npm (installed, pinned, into
# .deps/reference-node) and Debian's python3-sentencepiece.
#
# Usage: sh scripts/reference/tokenizers_golden.sh [DATA_DIR] [--train]
# DATA_DIR defaults to $TRUSTFORMERS_DATA, else ../shared/data beside the
# repository. --train first rebuilds the small models the goldens use: the
# three SentencePiece models and the three tokenizer.json files.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${1:-${TRUSTFORMERS_DATA:-$repo/../shared/data}}
train=${2:-}
node_dir=$repo/.deps/reference-node
mkdir -p "$node_dir"
[ -f "$node_dir/package.json" ] || echo '{"name":"trustformers-tokenizer-reference","private":true}' >"$node_dir/package.json"
(cd "$node_dir" && npm install --no-audit --no-fund --save-exact \
	tiktoken@1.0.22 tokenizers@0.23.2 @huggingface/tokenizers@0.2.0 >/dev/null)
if [ "$train" = --train ]; then
	node "$repo/scripts/reference/tokenizers_build.mjs" "$repo" "$data"
fi
node "$repo/scripts/reference/tokenizers_node.mjs" "$repo" "$data"
/usr/bin/python3 "$repo/scripts/reference/tokenizers_sentencepiece.py" "$repo" "$data" $train
