#!/bin/sh
# Execution-environment entrypoint: the container may run as an arbitrary uid in group 0 (OpenShift,
# Kubernetes container groups); give that uid a passwd entry (ssh and getpass need one) with HOME=/runner.
if ! whoami >/dev/null 2>&1 && [ -w /etc/passwd ]; then
  echo "runner:x:$(id -u):$(id -g):webstack EE user:/runner:/bin/bash" >> /etc/passwd
fi
export HOME=/runner
exec "$@"
