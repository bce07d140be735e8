#!/bin/sh
# Build every image docker/compose.yml names (`make images`): ageweb:latest (target app) and
# ageweb-proxy:latest (target proxy), with podman, or docker where its daemon answers. Each is
# also tagged with the release (pyproject.toml's version), the tag deploy/k8s pins.
#
#   docker/build-images.sh                  # ageweb:latest and :0.1.0, ageweb-proxy:latest and :0.1.0
#   TENSORFLOW="tensorflow[and-cuda]==2.21.0 keras==3.15.1" TAG=gpu TARGETS=app docker/build-images.sh
#                                           # the GPU worker's: ageweb:gpu and ageweb:0.1.0-gpu
#
# The base, debian:bookworm-slim, is pulled if missing; where it cannot be pulled it is made
# from Debian's packages (docker/make-base.sh, needs root and debootstrap). Builds share the
# layer cache and pip's download cache, so a rebuild after a code change takes seconds.
# CA_BUNDLE (the host's bundle by default) is passed to pip as a build secret, for hosts whose
# outgoing TLS is re-signed by a proxy; it never enters an image.
set -eu
cd "$(dirname "$0")/.."

BASE=${BASE:-debian:bookworm-slim}
TAG=${TAG:-latest}
TARGETS=${TARGETS:-app proxy}
TENSORFLOW=${TENSORFLOW:-}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
case $TAG in
    latest) release=$VERSION ;;
    *) release=$VERSION-$TAG ;;
esac

if [ -z "${ENGINE:-}" ]; then
    if command -v podman >/dev/null 2>&1; then
        ENGINE=podman
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        ENGINE=docker
    else
        echo "build-images.sh: no container engine (install podman, or start docker's daemon)" >&2
        exit 1
    fi
fi

if ! "$ENGINE" image inspect "$BASE" >/dev/null 2>&1 && ! "$ENGINE" pull -q "$BASE" >/dev/null 2>&1; then
    echo "build-images.sh: $BASE cannot be pulled; making it from Debian's packages" >&2
    ENGINE=$ENGINE NAME=$BASE docker/make-base.sh
fi

secret=""
[ -s "$CA_BUNDLE" ] && secret="--secret id=ca,src=$CA_BUNDLE"

for target in $TARGETS; do
    case $target in
        app) image=ageweb:$TAG ;;
        proxy) image=ageweb-proxy:$TAG ;;
        *) echo "build-images.sh: unknown target $target" >&2; exit 2 ;;
    esac
    start=$(date +%s)
    # --network host: the build reaches the package indexes as this host does.
    # shellcheck disable=SC2086
    DOCKER_BUILDKIT=1 "$ENGINE" build --network host --file docker/Dockerfile --target "$target" \
        --build-arg BASE="$BASE" --build-arg TENSORFLOW="$TENSORFLOW" $secret \
        --tag "$image" --tag "${image%:*}:$release" .
    echo "build-images.sh: $image (${image%:*}:$release) built in $(( $(date +%s) - start )) s"
done
"$ENGINE" images --filter reference='ageweb*' --format '{{.Repository}}:{{.Tag}} {{.Size}}'
