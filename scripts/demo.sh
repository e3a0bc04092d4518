#!/usr/bin/env bash
# npm run demo: ward's main job end to end on a fresh Debian 12 machine, as root.
#  1. set-up (apt packages, npm ci with the native build, group ward, the unprivileged user ward-demo
#     with a subordinate id range) - scripts/setup.sh, idempotent;
#  2. a private ward-helper on a private socket and state dir, unless a system helper is listening;
#  3. a demo ACI built from the host's busybox-static;
#  4. `ward run` of it as ward-demo, through the helper and ward-stage1, printing what the pod saw.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

work=$(mktemp -d /tmp/ward-demo.XXXXXX)
chmod 755 "$work"
helper_pid=""
cleanup() {
  [ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null && wait "$helper_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# ward-demo must be able to read ward itself; a checkout under /root is not, so use a copy.
prefix=$PWD
if ! setpriv --reuid ward-demo --regid ward-demo --init-groups -- test -r "$prefix/dist/src/cli/main.js"; then
  prefix=/usr/local/lib/ward
  echo "demo: $PWD is not readable by ward-demo; installing ward into $prefix"
  mkdir -p "$prefix"
  cp -a package.json bin dist policies node_modules "$prefix/"
  mkdir -p "$prefix/addon/build/Release"
  cp -a addon/build/Release/ward_addon.node "$prefix/addon/build/Release/"
  cp -a addon/build/ward-stage1 "$prefix/addon/build/"
  chmod -R a+rX "$prefix"
fi

socket=/run/ward/helper.sock
if [ -S "$socket" ] && ss -xl 2>/dev/null | grep -qF "$socket"; then
  echo "demo: using the system ward-helper at $socket"
else
  socket=$work/run/helper.sock
  mkdir -p "$work/run" "$work/state"
  chmod 755 "$work/run"; chmod 700 "$work/state"
  node "$prefix/bin/ward-helper" --socket "$socket" --state-dir "$work/state" 2>"$work/helper.log" &
  helper_pid=$!
  for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.05; done
  [ -S "$socket" ] || { cat "$work/helper.log" >&2; echo "demo: the private ward-helper did not start" >&2; exit 1; }
  echo "demo: started a private ward-helper (pid $helper_pid) on $socket"
fi

node "$prefix/dist/test/lib/aci-builder.js" "$work/demo.aci" >/dev/null
echo "demo: built $work/demo.aci from busybox-static; running it as ward-demo:"
echo
set +e
store=$(getent passwd ward-demo | cut -d: -f6)/.local/share/ward
setpriv --reuid ward-demo --regid ward-demo --init-groups -- env HOME="$(getent passwd ward-demo | cut -d: -f6)" \
  node "$prefix/bin/ward" --dir "$store" --helper-socket "$socket" run --insecure-options=image "$work/demo.aci" -- -c '
    echo "  pid in the pod:   $$ (ward-stage1 is pid 1: $(cat /proc/1/comm))"
    echo "  hostname:         $(hostname)"
    echo "  uid map:          $(tr -s " " < /proc/self/uid_map)"
    echo "  gid map:          $(tr -s " " < /proc/self/gid_map)"
    echo "  user:             $(id)"
    grep -E "^(Seccomp|NoNewPrivs|CapEff|CapBnd):" /proc/self/status | sed "s/^/  /; s/\t/ /"
    echo "  unshare(2) under the default seccomp profile: $(if unshare -U true 2>/dev/null; then echo allowed; else echo denied; fi)"
    echo "  processes visible: $(ls /proc | grep -c "^[0-9]")"
    exit 7'
status=$?
echo
echo "demo: the app exited with status $status (7 expected: exit codes pass through)"
