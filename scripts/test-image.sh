#!/usr/bin/env bash
# Builds the small image the Docker tests run, `dag-test-busybox:latest`, from
# Debian's static busybox: no registry is needed. Installs busybox-static when
# missing (as root, with apt-get).
set -euo pipefail
image="${DAG_TEST_IMAGE:-dag-test-busybox:latest}"
busybox=/bin/busybox
# The image has no libc: only a statically linked busybox works in it.
is_static() { [ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1; }
if ! is_static; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq busybox-static; }
  else
    echo "need a static busybox at $busybox (Debian package busybox-static)" >&2
    exit 1
  fi
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/data" "$root/etc"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/bin' \
  --change 'CMD ["/bin/sh"]' \
  - "$image" >/dev/null
echo "built $image"
