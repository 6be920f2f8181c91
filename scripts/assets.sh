#!/usr/bin/env bash
# assets.sh DATA_DIR downloads the test assets that the tests read from
# ../shared/data (or $TRUSTFORMERS_DATA) from their public homes, and checks
# each against its sha256. A file already present with the right checksum is
# kept. This is for users who are online; CI has ../shared/data beside the
# repository and never runs it.
set -euo pipefail
DATA="${1:-${TRUSTFORMERS_DATA:-$(dirname "$0")/../../shared/data}}"

# path | sha256 | url
ASSETS="
tinyshakespeare/input.txt|86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed|https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
gpt2/encoder.json|196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783|https://openaipublic.blob.core.windows.net/gpt-2/models/124M/encoder.json
gpt2/vocab.bpe|1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5|https://openaipublic.blob.core.windows.net/gpt-2/models/124M/vocab.bpe
bert-base-uncased/tokenizer.json|3140af3f138a278326f082299d62c701ffa88268d85ec3ad8a9a242089a78dfe|https://huggingface.co/google-bert/bert-base-uncased/resolve/main/tokenizer.json
llama2/tokenizer.model|9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347|https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.model
tinyllamas/stories260K.bin|9414d5a285453a7eab631713d171753232c978f6f97654211469aff8be93c8d6|https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin
"

fail=0
while IFS='|' read -r path sum url; do
	[ -n "$path" ] || continue
	dest="$DATA/$path"
	if [ -f "$dest" ] && echo "$sum  $dest" | sha256sum --check --status; then
		echo "assets: $path ok"
		continue
	fi
	mkdir -p "$(dirname "$dest")"
	tmp="$(mktemp "$dest.XXXXXX")"
	echo "assets: fetching $path from $url"
	if ! curl -fsSL --retry 3 -o "$tmp" "$url"; then
		echo "assets: $path: download failed from $url" >&2
		rm -f "$tmp"; fail=1; continue
	fi
	if ! echo "$sum  $tmp" | sha256sum --check --status; then
		echo "assets: $path: sha256 mismatch (want $sum, got $(sha256sum "$tmp" | cut -d' ' -f1))" >&2
		rm -f "$tmp"; fail=1; continue
	fi
	mv "$tmp" "$dest"
	echo "assets: $path ok"
done <<<"$ASSETS"
exit $fail
