# trustformers-go in a container: Debian 12, Go, and everything `make setup`
# installs (Jupyter, the GoNB kernel, Chromium, echarts and ONNX Runtime from
# npm, XLA's CPU PJRT plugin from its PyPI wheel). It is a thin wrapper over
# `make setup`, which CI exercises.
#
#   docker build -t trustformers-go .
#   docker run --rm -p 127.0.0.1:8888:8888 trustformers-go
#
# The server listens on every interface inside the container, behind a token
# (JUPYTER_TOKEN, e.g. `docker run -e JUPYTER_TOKEN=...`, else a random one
# printed in the log with the URL); publishing the port on 127.0.0.1 keeps it
# to this machine. See README's Security section.
# The official Go image on Debian 12 (bookworm); its Go only bootstraps:
# GOTOOLCHAIN makes the go command fetch go1.27.3 on first use.
FROM golang:1.24-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    GOTOOLCHAIN=go1.27.3 \
    GOEXPERIMENT=simd

RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates git make gcc libc6-dev nodejs npm python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /trustformers-go
COPY . .
RUN make setup && go build ./...

EXPOSE 8888
ENV JUPYTER_IP=0.0.0.0
CMD ["bash", "scripts/notebook.sh"]
