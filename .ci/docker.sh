#!/usr/bin/env bash
# CI services for the environment tests (issue 4): a Docker Engine from the OS packages,
# started if it is not running, and busybox to make test images from (no registry is
# reachable: the tests `docker import` a busybox root file system and build FROM it).
set -euo pipefail

if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io busybox-static >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "error: dockerd did not answer within 60 seconds; its log:" >&2
    tail -n 50 /tmp/dockerd.log >&2 || true
    exit 1
  fi
fi
echo "docker: $(docker version --format 'engine {{.Server.Version}}')"
