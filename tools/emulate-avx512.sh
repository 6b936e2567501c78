#!/usr/bin/env bash
# Runs a program on an emulated x86-64 CPU with AVX-512, for testing the AVX3 code of a build on
# a machine without AVX-512: Bochs 2.7 (Debian's package) with its Skylake-X model (AVX512 F,
# CD, BW, DQ and VL: Highway's AVX3 target, the best one propel compiles for x86), booting
# Debian's cloud kernel with the program, its shared libraries and busybox in an initramfs.
# Prints what the program prints and exits with its exit status.
#
#   tools/emulate-avx512.sh [--env NAME=VALUE]... [--copy PATH]... [--timeout SECONDS] \
#       [--memory MIB] -- PROGRAM [ARGUMENTS...]
#   tools/emulate-avx512.sh -- build/release/tests/propel_tests --gtest_filter='*/AVX3'
#
# Emulation is slow, about 30 million instructions per second: the boot takes about a minute and
# a half, the AVX3 instances of propel_tests' target-parameterized tests about 7 more. Bochs's
# display is its text terminal on a pseudo-terminal of `script` (no port is opened). The program
# runs as root in /tmp of a file system holding only it, its libraries, busybox and the files
# or folders given by --copy (at their absolute paths), with no network and the environment
# given by --env only. Installs its Debian packages when missing (root or sudo) and downloads
# the kernel package once; work files go to build/emulate (PROPEL_EMULATE_DIR).
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

envs=()
copies=()
timeout_s=3600
memory=2048
while [ $# -gt 0 ]; do
  case "$1" in
    --env) [ $# -ge 2 ] || usage; envs+=("$2"); shift 2 ;;
    --copy) [ $# -ge 2 ] || usage; copies+=("$2"); shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --memory) [ $# -ge 2 ] || usage; memory=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "emulate-avx512: unknown option '$1' (the program goes after --)" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || usage
program=$1
shift
case "$program" in /*) ;; *) program="$here/$program" ;; esac
[ -f "$program" ] && [ -x "$program" ] ||
  { echo "emulate-avx512: '$program' is not an executable file" >&2; exit 2; }
[[ "$timeout_s" =~ ^[0-9]+$ ]] ||
  { echo "emulate-avx512: --timeout '$timeout_s' is not a number of seconds" >&2; exit 2; }
[[ "$memory" =~ ^[0-9]+$ ]] ||
  { echo "emulate-avx512: --memory '$memory' is not a number of MiB" >&2; exit 2; }
for i in ${copies[@]+"${!copies[@]}"}; do
  c=${copies[$i]}
  case "$c" in /*) ;; *) c="$here/$c" ;; esac
  [ -e "$c" ] ||
    { echo "emulate-avx512: --copy '${copies[$i]}': no such file or folder" >&2; exit 2; }
  copies[$i]=$(realpath "$c")
done
for e in ${envs[@]+"${envs[@]}"}; do
  [[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] ||
    { echo "emulate-avx512: --env '$e' is not NAME=VALUE" >&2; exit 2; }
done

# ---- the emulator and the boot tools, from Debian's packages
packages=(bochs bochs-term bochsbios vgabios isolinux syslinux-common xorriso busybox-static cpio)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if [ ${#missing[@]} -ne 0 ]; then
  echo "emulate-avx512: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

work=${PROPEL_EMULATE_DIR:-build/emulate}  # relative: to the repository
mkdir -p "$work"
work=$(cd "$work" && pwd)

# ---- the kernel: Debian's cloud image (built-in serial console and initramfs support)
kernel_package() {
  apt-cache depends linux-image-cloud-amd64 2> /dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
if [ ! -f "$work/vmlinuz" ]; then
  kpkg=$(kernel_package)
  [ -n "$kpkg" ] || { echo "emulate-avx512: apt knows no linux-image-cloud-amd64" >&2; exit 1; }
  echo "emulate-avx512: downloading $kpkg" >&2
  rm -rf "$work/kernel" && mkdir -p "$work/kernel"
  # Stale package lists can name a version the mirror no longer has: refresh them once.
  (cd "$work/kernel" && apt-get download -qq "$kpkg" 2> /dev/null) || {
    $sudo apt-get update -qq
    kpkg=$(kernel_package)
    (cd "$work/kernel" && apt-get download -qq "$kpkg" 2> /dev/null)
  } || { echo "emulate-avx512: apt-get download $kpkg failed" >&2; exit 1; }
  dpkg-deb -x "$work"/kernel/*.deb "$work/kernel/x"
  cp "$work"/kernel/x/boot/vmlinuz-* "$work/vmlinuz"
  rm -rf "$work/kernel"
fi

# ---- the initramfs: busybox, the program and the shared objects it loads
root="$work/root"
rm -rf "$root" "$work/iso"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,prog}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
copy_with_path() { mkdir -p "$root$(dirname "$1")" && cp -rL "$1" "$root$1"; }
while read -r lib; do
  copy_with_path "$lib"
done < <(ldd "$program" 2> /dev/null | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }')
cp -L "$program" "$root/prog/"
for c in ${copies[@]+"${copies[@]}"}; do copy_with_path "$c"; done

quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo '#!/bin/sh'
  for e in ${envs[@]+"${envs[@]}"}; do echo "export ${e%%=*}=$(quote "${e#*=}")"; done
  printf 'cd /tmp && /prog/%s' "$(quote "$(basename "$program")")"
  for a in "$@"; do printf ' %s' "$(quote "$a")"; done
  echo ' 2>&1'
} > "$root/run.sh"
cat > "$root/init" << 'EOF'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
flags=$(/bin/busybox grep -m1 '^flags' /proc/cpuinfo | /bin/busybox grep -o -E 'avx512[a-z]+')
echo "emulate-avx512: booted; CPU flags:" $flags
/bin/sh /run.sh
echo "emulate-avx512: exit status $?"
/bin/busybox sync
/bin/busybox sleep 2
/bin/busybox poweroff -f
EOF
chmod +x "$root/init" "$root/run.sh"
mkdir -p "$work/iso/isolinux"
# Not compressed: the emulated CPU would take minutes to inflate it.
(cd "$root" && find . | cpio -o -H newc 2> /dev/null > "$work/iso/initrd")
cp "$work/vmlinuz" "$work/iso/vmlinuz"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$work/iso/isolinux/"
# clearcpuid=xsaves,xsavec: Bochs 2.7 gives the standard-format size for the compacted XSAVE
# area in CPUID leaf 0xD; Linux then finds the sizes inconsistent and turns XSAVE off, and AVX
# with it. Without XSAVES/XSAVEC the kernel uses the standard format, whose sizes agree.
cat > "$work/iso/isolinux/isolinux.cfg" << 'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  APPEND initrd=/initrd rdinit=/init console=ttyS0,115200 quiet loglevel=1 nosmp nolapic noapic acpi=off lsm=capability mitigations=off clearcpuid=xsaves,xsavec tsc=reliable no_timer_check
EOF
xorriso -as mkisofs -quiet -o "$work/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table "$work/iso" 2> /dev/null

# ---- the emulator: the text display on a pseudo-terminal nobody reads, the console on COM1
serial="$work/serial.txt"
rm -f "$serial" "$work/bochs.log"
cat > "$work/bochsrc" << EOF
megs: $memory
cpu: model=corei7_skylake_x, ips=100000000
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
display_library: term
ata0-master: type=cdrom, path=$work/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$serial
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
clock: sync=none, time0=local
log: $work/bochs.log
panic: action=fatal
error: action=ignore
info: action=ignore
debug: action=ignore
EOF
printf 'c\nquit\n' > "$work/debugger.rc"  # Debian's Bochs starts in its debugger: continue
echo "emulate-avx512: booting Linux on Bochs (corei7_skylake_x)" >&2
# `script` gives the terminal display its terminal. Bochs does not quit when the guest halts: it
# is killed at the end, by the pid its shell wrote before becoming it (exec, as /usr/bin/bochs
# execs bochs-bin), and `script` with it.
rm -f "$work/bochs.pid"
command="echo \$\$ > $(printf %q "$work/bochs.pid") &&
  exec bochs -q -f $(printf %q "$work/bochsrc") -rc $(printf %q "$work/debugger.rc")"
TERM=dumb script -qfec "$command" /dev/null > "$work/bochs.out" 2>&1 < /dev/null &
script_pid=$!
stop() {
  local pid
  pid=$(cat "$work/bochs.pid" 2> /dev/null || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2> /dev/null || true
    for _ in 1 2 3 4 5 6; do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2> /dev/null || true  # a halted guest can keep Bochs from its SIGTERM
  fi
  kill "$script_pid" 2> /dev/null || true
  wait "$script_pid" 2> /dev/null || true
}
trap stop EXIT

# Streams the console from the boot message on, until the exit line, Bochs's end or the timeout.
start=$SECONDS
shown=0
status=""
while :; do
  if [ -f "$serial" ]; then
    lines=$(tr -d '\r' < "$serial" |
      sed -n '/^emulate-avx512: booted/,/^emulate-avx512: exit status/p')
    total=$(printf '%s\n' "$lines" | grep -c '' || true)
    [ -z "$lines" ] && total=0
    if [ "$total" -gt "$shown" ]; then
      printf '%s\n' "$lines" | sed -n "$((shown + 1)),${total}p"
      shown=$total
    fi
    status=$(printf '%s\n' "$lines" | sed -n 's/^emulate-avx512: exit status \([0-9]*\)$/\1/p')
    [ -n "$status" ] && break
  fi
  if ! kill -0 "$script_pid" 2> /dev/null; then
    echo "emulate-avx512: Bochs stopped before the program ended; $work/bochs.out:" >&2
    tail -n 5 "$work/bochs.out" >&2
    exit 1
  fi
  if [ $((SECONDS - start)) -ge "$timeout_s" ]; then
    echo "emulate-avx512: no exit after $timeout_s s (--timeout); console in $serial" >&2
    exit 124
  fi
  sleep 5
done
echo "emulate-avx512: $((SECONDS - start)) s in all" >&2
exit "$status"
