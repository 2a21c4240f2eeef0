#!/bin/sh
# The local cloud's firmware and boot loader, emulated in the initramfs
# (initramfs-tools local-bottom: the root filesystem is mounted on
# ${rootmnt}). qemu boots the image's Debian kernel directly (-kernel); this
# decides, every boot, what a real machine's firmware and grub would boot:
#
#   - BIOS: the boot code grub-install wrote into the first 440 bytes of
#     /dev/vda (the MBR); EFI: \EFI\BOOT\BOOTX64.EFI on a vfat disk (the
#     removable-media path grub takes with efiInstallAsRemovable).
#   - Neither holds a boot record: the machine boots its Debian as it always
#     did (the image's own boot loader stands for itself).
#   - A record "BOOTRECORD1 <fs uuid> <grub dir>" names the file system and
#     directory of grub.cfg, as grub's core image embeds its prefix. The
#     default entry's init= names a NixOS system in /nix/store: its
#     rig-stage1 script runs here, as the system's own initrd would (stage 1:
#     lustration, then activation), before Debian's systemd starts as the
#     system's closure.
#   - A record whose grub.cfg or system is missing does not boot (as grub or
#     stage 1 would stop there): the machine never comes up.
#
# It writes nothing itself. Busybox sh.
case "$1" in prereqs) exit 0 ;; esac
. /scripts/functions

record=""
if [ -d /sys/firmware/efi ]; then
	mkdir -p /run/firmware-esp
	for d in /dev/vd?; do
		[ "$(readlink -f "$d")" = "$(readlink -f "$ROOT")" ] && continue
		mount -t vfat -o ro "$d" /run/firmware-esp 2>/dev/null || continue
		if [ -f /run/firmware-esp/EFI/BOOT/BOOTX64.EFI ]; then
			record=$(head -c 512 /run/firmware-esp/EFI/BOOT/BOOTX64.EFI | tr -d '\000')
		fi
		umount /run/firmware-esp
		[ -n "$record" ] && break
	done
else
	record=$(head -c 440 "$ROOT" | tr -d '\000')
fi
case "$record" in
"BOOTRECORD1 "*) ;;
*) exit 0 ;;
esac
set -- $record
uuid=$2 grubdir=$3
dev=/dev/disk/by-uuid/$uuid
i=0
while [ ! -e "$dev" ] && [ "$i" -lt 30 ]; do sleep 1; i=$((i + 1)); done
[ -e "$dev" ] || panic "firmware: grub's file system $uuid is missing: grub rescue>"
if [ "$(readlink -f "$dev")" = "$(readlink -f "$ROOT")" ]; then
	cfgroot=${rootmnt}
else
	mkdir -p /run/firmware-grub
	mount -o ro "$dev" /run/firmware-grub || panic "firmware: cannot read grub's file system $uuid"
	cfgroot=/run/firmware-grub
fi
cfg=$cfgroot$grubdir/grub.cfg
system=""
[ -f "$cfg" ] && system=$(sed -n 's#^[[:space:]]*linux[[:space:]].*[[:space:]]init=\(/nix/store/[^[:space:]]*\)/init.*#\1#p' "$cfg" | head -n 1)
[ "$cfgroot" = /run/firmware-grub ] && umount /run/firmware-grub
[ -n "$system" ] || panic "firmware: no boot entry in $grubdir/grub.cfg on $uuid: grub rescue>"
echo "firmware: grub boots $system"
[ -f "${rootmnt}$system/rig-stage1" ] || panic "firmware: stage 1 cannot find $system on the root file system"
sh "${rootmnt}$system/rig-stage1" "${rootmnt}" "$system" "$ROOT" || panic "firmware: stage 1 of $system failed"
