#!/usr/bin/env bash
# npm run demo: ward's main job end to end on a fresh Debian 12 machine, as root.
#  1. set-up (apt packages, npm ci with the native build, group ward, the unprivileged user ward-demo
#     with a subordinate id range) - scripts/setup.sh, idempotent;
#  2. a private ward-helper on a private socket and state dir, unless a system helper is listening;
#  3. a demo ACI built from the host's busybox-static, signed with a fresh GnuPG key that ward-demo
#     then trusts for the image's name (`ward trust --prefix`);
#  4. `ward run` of it as ward-demo, verified, through the helper and ward-stage1, printing what
#     the pod saw.
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
  cp -a addon/build/Release/ward_addon.node addon/build/Release/ward_tpm.node "$prefix/addon/build/Release/"
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
home=$(getent passwd ward-demo | cut -d: -f6)
as_demo() { setpriv --reuid ward-demo --regid ward-demo --init-groups -- env HOME="$home" node "$prefix/bin/ward" --user-config "$work/trust" "$@"; }

# The publisher's side: a key, and a detached signature beside the image (as `rkt`/appc expect).
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'ward demo publisher <demo@ward.invalid>' ed25519 sign 1d 2>/dev/null
fpr=$(gpg --batch --with-colons --list-keys | awk -F: '$1 == "fpr" { print $10; exit }')
gpg --batch --quiet --yes --armor --detach-sign -o "$work/demo.aci.asc" "$work/demo.aci" 2>/dev/null
gpg --batch --armor --export "$fpr" > "$work/publisher.asc"
chmod 644 "$work/demo.aci.asc" "$work/publisher.asc"
# ward-demo's side: trust that key for the image's name only (a throwaway trust dir for the demo).
install -d -o ward-demo -g ward-demo -m 700 "$work/trust"
as_demo trust --prefix=example.com/busybox --skip-fingerprint-review "$work/publisher.asc"
echo "demo: built $work/demo.aci from busybox-static, signed it with key $fpr,"
echo "      which ward-demo trusts for example.com/busybox; running it as ward-demo, verified:"
echo
set +e
as_demo --dir "$home/.local/share/ward" --helper-socket "$socket" run "$work/demo.aci" -- -c '
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
