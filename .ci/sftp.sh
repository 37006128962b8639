#!/usr/bin/env bash
# CI: the OpenSSH server the SFTP remote tests start themselves (on 127.0.0.1, a random port,
# their own config and keys). Only installed here; nothing is started or configured globally.
set -euo pipefail
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
fi
# sshd's privilege separation folder (made at boot by the service, which CI does not run).
mkdir -p /run/sshd
