#!/usr/bin/env bash
# notebook.sh serves notebooks/ with Jupyter, always behind a token: the one
# in JUPYTER_TOKEN when set, else a fresh random one, printed with the URL.
# A Jupyter server runs any code it is sent, so whoever reaches the port and
# knows the token can run code with your files.
#
#   JUPYTER_IP    address to listen on (default 127.0.0.1: this machine only;
#                 the container sets 0.0.0.0 and is published on 127.0.0.1)
#   JUPYTER_PORT  port (default 8888)
#   JUPYTER_TOKEN the token to require (default: generated)
#   TRUSTFORMERS_NOTEBOOK_NO_TOKEN=1
#                 serve without a token: anyone who can reach the port runs
#                 code. Only for a port nobody else can reach; prints a warning.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IP="${JUPYTER_IP:-127.0.0.1}"
PORT="${JUPYTER_PORT:-8888}"
FLAGS=()
if [ "$(id -u)" = 0 ]; then FLAGS+=(--allow-root); fi # containers, CI machines

if [ "${TRUSTFORMERS_NOTEBOOK_NO_TOKEN:-}" = 1 ]; then
	echo "notebook: WARNING: serving on $IP:$PORT WITHOUT A TOKEN (TRUSTFORMERS_NOTEBOOK_NO_TOKEN=1): anyone who can reach this port can run code as $(id -un)" >&2
	export JUPYTER_TOKEN=""
	FLAGS+=(--NotebookApp.token= --NotebookApp.password=)
else
	if [ -z "${JUPYTER_TOKEN:-}" ]; then
		JUPYTER_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
	fi
	export JUPYTER_TOKEN # read by Jupyter from the environment, never on the command line (ps shows that)
	shown="$IP"
	if [ "$IP" = 0.0.0.0 ]; then shown=127.0.0.1; fi
	echo "notebook: open http://$shown:$PORT/?token=$JUPYTER_TOKEN" >&2
fi
exec jupyter notebook --no-browser --ip="$IP" --port="$PORT" --notebook-dir="$ROOT/notebooks" "${FLAGS[@]}" "$@"
