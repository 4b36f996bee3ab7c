#!/usr/bin/env bash
# Runs the local engine's cgroup tests on a real kernel whose pids and memory controllers are on cgroup v2 (the
# unified hierarchy that most distributions use), in a VM: the machines of this project bind them to cgroup v1.
#
# It boots a Debian cloud kernel under qemu (KVM when /dev/kvm is usable, else TCG emulation) with a tiny
# initramfs: a static busybox, bubblewrap and its libraries from the host, and a static test binary of
# ./internal/backend/engine/local. Its /init mounts cgroup2 at /sys/fs/cgroup (v1 disabled: cgroup_no_v1=all),
# runs the tests as root (TestUnprivileged runs them again as user nobody, without and with a delegated cgroup
# subtree) and prints a sentinel line with their exit status on the serial console, which becomes this script's
# exit status.
#
# Usage: scripts/vm-cgroup2-test.sh            exit 0: passed; 1: failed; 77: skipped (the reason is printed)
#   VM_TESTS=<regexp>   the tests to run in the VM (default: the cgroup and limit tests below)
#   VM_TIMEOUT=<secs>   bound of the whole VM run (default 1200)
#   VM_LOG=<file>       where the VM's console output goes (default: a temporary file, shown on failure)
# qemu, the kernel and busybox come from scripts/ensure-deps.sh --vm (cached under the user cache dir).
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests that use the cgroups on the real unified hierarchy. TestUnprivileged re-runs its list
# (LOCAL_ENGINE_TEST_UNPRIVILEGED_RUN, the intersection below) as nobody.
default_tests='^(TestCgroupV2Real|TestCgroupDetection|TestCgroupRemoved|TestForkBomb|TestSandboxMemory|TestLimits|TestLimitsRefused|TestCommandEntersCmdsCgroup|TestStopDeleteLeaveNoProcess|TestTimeoutKillsTree|TestInitTimeoutKillsTreeNotInit|TestStopKillsRunningCommands|TestUnprivileged)$'
unpriv_tests='^(TestCgroupRemoved|TestForkBomb|TestSandboxMemory|TestLimits|TestLimitsRefused|TestCommandEntersCmdsCgroup|TestTimeoutKillsTree|TestInitTimeoutKillsTreeNotInit|TestStopKillsRunningCommands)$'
tests="${VM_TESTS:-$default_tests}"
timeout_secs="${VM_TIMEOUT:-1200}"

skip() {
  echo "SKIP: the cgroup v2 VM test cannot run here: $*"
  exit 77
}

if ! vm="$(scripts/ensure-deps.sh --vm)"; then
  skip "qemu or the kernel could not be installed (see above)"
fi
bwrap="$(command -v bwrap)" || skip "bubblewrap is not installed (scripts/ensure-deps.sh)"

work="$(mktemp -d)"
log="${VM_LOG:-$work/console.log}"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,root,etc,run}
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"

echo "building the test binary (CGO_ENABLED=0 go test -c ./internal/backend/engine/local/)"
CGO_ENABLED=0 go test -c -o "$root/local.test" ./internal/backend/engine/local/

cp "$vm/busybox" "$root/usr/bin/busybox"
for applet in $("$vm/busybox" --list); do
  [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
done
# bubblewrap and the shared libraries it loads, at the paths the host has them (/lib is /usr/lib in the VM).
cp "$bwrap" "$root/usr/bin/bwrap"
for lib in $(ldd "$bwrap" | grep -o '/[^ ]*'); do
  dst="$root/usr${lib#/usr}"
  mkdir -p "$(dirname "$dst")"
  cp -L "$lib" "$dst"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo "127.0.0.1 localhost" >"$root/etc/hosts"
echo "hosts: files" >"$root/etc/nsswitch.conf"

# The VM's init. Its last console line is the sentinel with the tests' exit status.
# bubblewrap cannot pivot_root out of the initramfs (rootfs): the first stage copies it to a tmpfs and makes that
# the root.
cat >"$root/init" <<EOF
#!/bin/sh
if [ "\$1" != stage2 ]; then
  mkdir /newroot
  mount -t tmpfs -o mode=755 tmpfs /newroot
  for f in /*; do [ "\$f" = /newroot ] || cp -a "\$f" /newroot/; done
  exec switch_root /newroot /init stage2
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
# As systemd mounts it.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
ip link set lo up
hostname vm-cgroup2
echo "VMTEST kernel \$(uname -r), /sys/fs/cgroup: \$(cat /sys/fs/cgroup/cgroup.controllers), \$(nproc) cpus, \$(free -m | awk '/Mem:/ {print \$2}') MiB"
cd /tmp
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
export LOCAL_ENGINE_TEST_UNPRIVILEGED_RUN='$unpriv_tests'
/local.test -test.run '$tests' -test.count=1 -test.v -test.timeout 30m
echo "VMTEST-RESULT rc=\$?"
sync
poweroff -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . | "$vm/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$work/initrd.cpio"

accel=tcg
cpu=max
if [ -w /dev/kvm ]; then
  accel=kvm
  cpu=host
fi
echo "booting $(cat "$vm/kernel-package" 2>/dev/null || echo "$vm/vmlinuz") under qemu ($accel), timeout ${timeout_secs}s; tests: $tests"
start=$(date +%s)
set +e
timeout --foreground --kill-after=30 "$timeout_secs" qemu-system-x86_64 \
  -accel "$accel" -cpu "$cpu" -m 1024 -smp 2 -no-reboot -nic none -nographic -monitor none -serial stdio \
  -kernel "$vm/vmlinuz" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 random.trust_cpu=on" \
  </dev/null 2>&1 | tr -d '\r' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
echo "the VM ran $(($(date +%s) - start))s (qemu exit status $qemu_rc)"
rc="$(sed -n 's/^VMTEST-RESULT rc=\([0-9]*\)$/\1/p' "$log" | tail -1)"
if [ -z "$rc" ]; then
  if [ "$qemu_rc" = 124 ]; then
    echo "error: the VM did not finish within ${timeout_secs}s (VM_TIMEOUT)" >&2
  else
    echo "error: the VM ended without reporting the tests' result (qemu exit status $qemu_rc)" >&2
  fi
  exit 1
fi
if [ "$rc" != 0 ]; then
  echo "error: the tests failed in the cgroup v2 VM (exit status $rc)" >&2
  exit 1
fi
echo "ok: the cgroup tests passed on cgroup v2 in the VM"
