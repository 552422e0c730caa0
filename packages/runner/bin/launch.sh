#!/bin/sh
# Starts the runner's Node CLI without NODE_EXTRA_CA_CERTS. Node 20 parses that whole
# certificate bundle before running any JavaScript (about 50 ms, more than the runner's own
# warm path), and the runner makes no TLS connections. The value is parked in
# PONCHO_NODE_EXTRA_CA_CERTS, and the runner hands it back to the command it runs.
# Installed as both poncho_package_run and python_package_run: the name it was called by picks
# the CLI (the older positional form for python_package_run).
name=${0##*/}
case $name in
  python_package_run) cli=python_package_run.js ;;
  *) cli=poncho_package_run.js ;;
esac
self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in
    /*) self=$link ;;
    *) self=${self%/*}/$link ;;
  esac
done
case $self in
  */*) here=${self%/*} ;;
  *) here=. ;;
esac
if [ "${NODE_EXTRA_CA_CERTS+set}" = set ]; then
  PONCHO_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export PONCHO_NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
exec node "$here/$cli" "$@"
