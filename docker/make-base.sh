#!/bin/sh
# Make the base image debian:bookworm-slim from Debian's own packages, for hosts that cannot
# pull it (no registry, or an air-gapped build): debootstrap's minimal variant, trimmed as the
# official slim image is (no manuals, documentation or translations), imported under the same
# name. `make images` runs this only when the image is missing and cannot be pulled.
#
#   docker/make-base.sh                       # podman, or docker with a running daemon
#   ENGINE=docker MIRROR=http://deb.example/debian docker/make-base.sh
#
# Needs root (debootstrap) and the debootstrap package.
set -eu

NAME=${NAME:-debian:bookworm-slim}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ENGINE=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}

command -v debootstrap >/dev/null 2>&1 || { echo "make-base.sh: install debootstrap first" >&2; exit 1; }

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ageweb-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

# What the slim image leaves out, as dpkg path filters, so that later apt-get installs in the
# images leave them out too.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF

debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR"

# apt in a container: no recommends by default, no cached packages or lists left in a layer.
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
EOF
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/info/"* "$rootfs/var/lib/apt/lists/"* \
       "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/log/"*.log
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

tar -C "$rootfs" --numeric-owner -c . | "$ENGINE" import --change 'CMD ["bash"]' - "$NAME"
echo "make-base.sh: $NAME made from $SUITE ($MIRROR)"
