#!/usr/bin/env bash
# Builds `dag-base:bookworm`, the base of the worker image (deploy/Dockerfile),
# from Debian bookworm's packages with `docker import`: no registry is needed.
# The packages are fetched with `apt-get download` (from the machine's apt
# sources) and unpacked with `dpkg-deb -x`; nothing is installed on the machine.
#
# What the image holds, and why:
#   libc6, libgcc-s1   the libraries `ldd target/release/dag` lists
#   bash, libtinfo6    bash tasks run with bash
#   busybox-static     sleep, cat, sh and the other tools tasks and RUN lines use
#   tini               PID 1: forwards SIGTERM to `dag worker`, reaps orphans
#   ca-certificates    the CA bundle for `tls://` NATS URLs with a public CA
# plus /etc/passwd and /etc/group with root and `dag` (uid and gid 10001).
#
# With a registry, build the worker image on debian:bookworm-slim instead
# (`--build-arg BASE=debian:bookworm-slim`); this script is then not needed.
#
# Usage: deploy/base-image.sh [IMAGE]   (default dag-base:bookworm; $DAG_BASE_IMAGE)
# Rebuilds only when the image is missing, or with --force.
set -euo pipefail
force=
if [ "${1:-}" = --force ]; then force=1; shift; fi
image="${1:-${DAG_BASE_IMAGE:-dag-base:bookworm}}"
packages=(libc6 libgcc-s1 bash libtinfo6 busybox-static tini ca-certificates)

if [ -z "$force" ] && docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "need apt-get and dpkg-deb (a Debian or Ubuntu machine) to fetch the packages" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debs" "$work/root"
# apt fetches as its unprivileged user _apt when it can write there.
chmod 755 "$work" && chmod 777 "$work/debs"
download() { (cd "$work/debs" && apt-get download -q "${packages[@]}" >/dev/null); }
if ! download; then
  # No package lists yet (a fresh container): fetch them once, as root.
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && download
  else
    echo "apt-get download failed; run 'apt-get update' (as root) and try again" >&2
    exit 1
  fi
fi
root="$work/root"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root"
done
# busybox's applets, where the packages left a name free (bash stays bash).
mkdir -p "$root/bin" "$root/usr/bin"
for applet in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$applet" ] || [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# ca-certificates' postinst would build the bundle; do what it does.
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z |
  xargs -0 cat > "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/bash\ndag:x:10001:10001:dag worker:/var/lib/dag:/bin/bash\n' > "$root/etc/passwd"
printf 'root:x:0:\ndag:x:10001:\n' > "$root/etc/group"
mkdir -p "$root/tmp" "$root/root" "$root/var/lib/dag"
chmod 1777 "$root/tmp"
chown 10001:10001 "$root/var/lib/dag" 2>/dev/null || true
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale"
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  - "$image" >/dev/null
echo "built $image from: $(cd "$work/debs" && ls | sed 's/\.deb$//' | tr '\n' ' ')"
