#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 machine for ward: system packages, npm dependencies, the
# native build, the `ward` group and the unprivileged users the demo and the tests run as.
# Run as root. Each step is skipped when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs packages and creates the ward group and test users)" >&2
  exit 1
fi

PACKAGES=(cmake pkg-config g++ libseccomp-dev libcap-dev uidmap busybox-static attr util-linux systemd zstd xz-utils bzip2 libtss2-dev swtpm swtpm-tools tpm2-tools libselinux1 selinux-policy-dev checkpolicy semodule-utils skopeo umoci docker-registry apache2-utils openssl time gnupg containernetworking-plugins iptables iproute2 golang-go golang-github-appc-spec-dev podman)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci also builds the addon, ward-stage1 and the TypeScript (the package's install script).
stamp=node_modules/.ward-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
else
  npm run --silent build >/dev/null
fi

getent group ward >/dev/null || groupadd --system ward
# Members of ward-admin see and act on every user's pods (list, status, stop, rm, gc).
getent group ward-admin >/dev/null || groupadd --system ward-admin
ensure_user() { # name, in-ward(yes|no)
  if ! id "$1" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh "$1"
  fi
  grep -q "^$1:" /etc/subuid || usermod --add-subuids "$(next_range /etc/subuid)" "$1"
  grep -q "^$1:" /etc/subgid || usermod --add-subgids "$(next_range /etc/subgid)" "$1"
  if [ "$2" = yes ]; then usermod -aG ward "$1"; else gpasswd -d "$1" ward >/dev/null 2>&1 || true; fi
}
next_range() { # first free 65536-id range above every range in the file
  local top
  top=$(awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}' "$1")
  echo "$top-$((top + 65535))"
}
ensure_user ward-demo yes
ensure_user ward-test-a yes
ensure_user ward-test-b yes
ensure_user ward-test-out no
ensure_user ward-test-admin yes
usermod -aG ward-admin ward-test-admin
