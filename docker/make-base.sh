#!/bin/sh
# Make the base image debian:bookworm-slim from Debian's own packages, for hosts that cannot
# pull it (no registry, or an air-gapped build): debootstrap's minimal variant, trimmed as the
# official slim image is (no manuals, documentation or translations), imported under the same
# name. `make images` runs this only when the image is missing and cannot be pulled.
#
#   docker/make-base.sh                       # podman, or docker with a running daemon
#   ENGINE=docker MIRROR=http://deb.example/debian docker/make-base.sh
#
# Needs the debootstrap package, and root for it (sudo is used where this is not root).
set -eu

NAME=${NAME:-debian:bookworm-slim}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ENGINE=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] ||
    { echo "make-base.sh: install debootstrap first" >&2; exit 1; }

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ageweb-base.XXXXXX")
trap 'as_root rm -rf "$rootfs"' EXIT

# What the slim image leaves out, as dpkg path filters, so that later apt-get installs in the
# images leave them out too.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'FILTERS'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
FILTERS

as_root debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR"

# apt in a container: no recommends, no downloaded packages or lists left in a layer.
as_root tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'APT'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT
as_root find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
as_root find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
as_root find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
as_root find "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/var/lib/apt/lists" \
    -mindepth 1 -maxdepth 1 -exec rm -rf {} +
as_root find "$rootfs/var/cache/apt" "$rootfs/var/log" -maxdepth 2 -type f \
    \( -name '*.bin' -o -name '*.deb' -o -name '*.log' \) -delete

as_root tar -C "$rootfs" --numeric-owner -c . | "$ENGINE" import --change 'CMD ["bash"]' - "$NAME"
echo "make-base.sh: $NAME made from $SUITE ($MIRROR)"
