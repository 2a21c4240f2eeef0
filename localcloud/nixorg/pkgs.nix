# A stand-in for nixpkgs' package set: the platform, the trivial text writers
# and a list of common packages, each a fake store path string
# "/nix/store/<32 characters>-<name>" (nothing is built or fetched). Any other
# name fails as it does with nixpkgs: "attribute 'foo' missing" (or
# "undefined variable 'foo'" under `with pkgs;`).
{ lib, system }:
let
  inherit (builtins) hashString listToAttrs map replaceStrings substring;

  # 32 characters of Nix's base-32 alphabet (which has no e), like a real
  # store path hash; derived from the name and content so that different
  # texts give different paths.
  fakeHash = s: replaceStrings [ "e" ] [ "z" ] (substring 0 32 (hashString "sha256" s));
  storePath = name: content: "/nix/store/${fakeHash "${name}\n${content}"}-${name}";

  # Builders that need nixpkgs fail with a message that says so.
  noNixpkgs = what: throw "pkgs.${what} needs nixpkgs, which this evaluation does not have: it only evaluates the configuration.";

  names = [
    "bash" "bashInteractive" "bind" "borgbackup" "btop" "btrfs-progs" "caddy" "cargo"
    "coreutils" "cryptsetup" "curl" "dig" "direnv" "dnsutils" "docker" "docker-compose"
    "dosfstools" "e2fsprogs" "efibootmgr" "emacs" "ethtool" "fd" "file" "findutils" "fish"
    "fzf" "gawk" "gcc" "gdu" "git" "gnugrep" "gnumake" "gnupg" "gnused" "gnutar" "go"
    "gptfdisk" "gzip" "hello" "htop" "iftop" "inetutils" "iotop" "iperf3" "iproute2"
    "iptables" "iputils" "jq" "kitty" "less" "linuxPackages" "linuxPackages_latest" "lsof"
    "lvm2" "man-pages" "mariadb" "mosh" "mtr" "nano" "ncdu" "neovim" "netcat" "nettools"
    "nftables" "nginx" "nix" "nmap" "nodejs" "openssh" "openssl" "parted" "pciutils"
    "podman" "postgresql" "procps" "psmisc" "python3" "redis" "restic" "ripgrep" "rsync"
    "rustc" "screen" "socat" "sqlite" "strace" "sudo" "sysstat" "tcpdump" "tmux" "traceroute"
    "tree" "unzip" "usbutils" "util-linux" "vim" "wget" "which" "wireguard-tools" "xz" "yq"
    "zip" "zsh" "zstd"
  ];

  platform = {
    inherit system;
    isx86_64 = system == "x86_64-linux";
    isx86 = system == "x86_64-linux" || system == "i686-linux";
    isAarch64 = system == "aarch64-linux";
    isAarch = system == "aarch64-linux";
    isLinux = lib.hasSuffix "-linux" system;
    isDarwin = false;
    is64bit = system != "i686-linux";
  };
in
listToAttrs (map (name: { inherit name; value = storePath name ""; }) names) // {
  inherit lib system;
  hostPlatform = platform;
  buildPlatform = platform;
  stdenv = {
    hostPlatform = platform;
    buildPlatform = platform;
    targetPlatform = platform;
    inherit (platform) isLinux isDarwin isx86_64 isAarch64;
    mkDerivation = noNixpkgs "stdenv.mkDerivation";
  };

  # The writers return the store path they would build; their text is part
  # of the derivation, so it is evaluated (errors in it surface).
  writeText = name: text: storePath name text;
  writeTextFile = { name, text, executable ? false, destination ? "", ... }: storePath name text;
  writeTextDir = path: text: storePath (baseNameOf path) text;
  writeScript = name: text: storePath name text;
  writeScriptBin = name: text: storePath name text;
  writeShellScript = name: text: storePath name text;
  writeShellScriptBin = name: text: storePath name text;
  writeShellApplication = { name, text, ... }: storePath name text;

  callPackage = noNixpkgs "callPackage";
  runCommand = noNixpkgs "runCommand";
  runCommandLocal = noNixpkgs "runCommandLocal";
  buildEnv = noNixpkgs "buildEnv";
  symlinkJoin = noNixpkgs "symlinkJoin";
  fetchurl = noNixpkgs "fetchurl";
  fetchgit = noNixpkgs "fetchgit";
  fetchFromGitHub = noNixpkgs "fetchFromGitHub";
}
