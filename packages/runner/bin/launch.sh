#!/bin/sh
# The installed poncho_package_run and python_package_run (the name picks the CLI: the older
# positional form `python_package_run ENV command...` for python_package_run).
#
# Warm runs never start Node. When --unpack-to DIR already holds the environment of this
# tarball, this script activates it and runs the command itself: a few milliseconds, where
# starting Node costs 30-50 ms on a worker. "Holds the environment of this tarball" is what the
# Node CLI checks too: DIR/.poncho/unpacked.json (written last) and this tarball file's entry in
# DIR/.poncho/tarballs/, made once the file's digest matched the marker's (see src/marker.ts). Runs that find DIR being unpacked by another run wait here,
# polling for it to be ready, instead of each starting Node; the first run to find DIR missing
# claims its lock (the lock directory the Node CLI takes with proper-lockfile) before starting
# Node, which takes the claim over, so that 16 runs started at once on a cold worker start Node
# once. Anything else (unpacking, a temporary folder, an environment folder, --debug, --help,
# errors, unusual options or paths) goes to the Node CLI, which decides everything the same way.
#
# The command runs as this script's child, as in the Node CLI: its exit status is the command's
# (128+N when it dies from signal N), SIGINT, SIGTERM and SIGHUP sent to this script are passed
# on (SIGINT only when no terminal is attached: Ctrl-C reaches the command by itself), and it
# gets the caller's stdin, stdout and stderr. `env --default-signal` (coreutils 8.31+) gives it
# back the SIGINT and SIGQUIT that sh ignores in a background child; without it, Node runs.

name=${0##*/}
case $name in
  python_package_run) cli=python_package_run.cjs ;;
  *) cli=poncho_package_run.cjs ;;
esac

# Starts the Node CLI with the original arguments, without NODE_EXTRA_CA_CERTS: Node 20 parses
# that whole certificate bundle before running any JavaScript (about 50 ms), and the runner
# makes no TLS connections. The value is parked in PONCHO_NODE_EXTRA_CA_CERTS, and the runner
# hands it back to the command it runs.
to_node() {
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
}

# The lock claim is this script's message to the Node CLI it starts; never trust one inherited.
unset PONCHO_RUN_CLAIMED_LOCK
[ -z "${PONCHO_DEBUG:-}" ] || to_node "$@"

# The command line, read without consuming it (the Node CLI may still need all of it). Only the
# plain forms are handled here; anything else (--debug, -h, -eFILE, a repeated option, a missing
# or empty value, a value that looks like an option) goes to the Node CLI, which reports usage
# errors the way util.parseArgs decides them.
at=0 want= environment= dir= lock_wait= command_at= command_word=
for arg do
  at=$((at + 1))
  if [ -n "$want" ]; then
    case $arg in '' | -*) to_node "$@" ;; esac
    case $want in
      e) environment=$arg ;;
      d) dir=$arg ;;
      w) lock_wait=$arg ;;
    esac
    want=
    continue
  fi
  if [ -z "$command_at" ]; then
    case $arg in
      -e | --environment) [ -z "$environment" ] || to_node "$@"; want=e; continue ;;
      -d | -u | --unpack-to) [ -z "$dir" ] || to_node "$@"; want=d; continue ;;
      -w | --wait-for-lock) [ -z "$lock_wait" ] || to_node "$@"; want=w; continue ;;
      --environment=?*) [ -z "$environment" ] || to_node "$@"; environment=${arg#*=}; continue ;;
      --unpack-to=?*) [ -z "$dir" ] || to_node "$@"; dir=${arg#*=}; continue ;;
      --wait-for-lock=?*) [ -z "$lock_wait" ] || to_node "$@"; lock_wait=${arg#*=}; continue ;;
      --) command_at=$((at + 1)); continue ;;
      -*) to_node "$@" ;;
    esac
    command_at=$at
  fi
  # $arg starts the command; in the older form `python_package_run ENV command...` it is ENV.
  if [ -z "$environment" ] && [ "$cli" = python_package_run.cjs ]; then
    environment=$arg
    command_at=$((at + 1))
    continue
  fi
  command_word=$arg
  break
done
[ -n "$environment" ] && [ -n "$dir" ] && [ -n "$command_word" ] || to_node "$@"
[ -f "$environment" ] || to_node "$@"

# DIR as an absolute path, exactly as the Node CLI resolves it (path.resolve: against the
# physical working directory); paths this script would have to normalize further, or that
# Node would decode differently (bytes outside printable ASCII), go to Node.
while :; do
  case $dir in
    ?*/) dir=${dir%/} ;;
    ./?*) dir=${dir#./} ;;
    *) break ;;
  esac
done
case $dir in
  /*) prefix=$dir ;;
  *) prefix=$(pwd -P)/$dir || to_node "$@" ;;
esac
case $prefix in
  / | *//* | */./* | */../* | */. | */.. | *[][*?\\]* | *[!\ -~]*) to_node "$@" ;;
esac

# Whole seconds, written plainly (sh would read 08 as octal); the Node CLI parses the rest.
case ${lock_wait:-300} in
  *[!0-9]* | 0?* | ??????*) to_node "$@" ;;
esac
wait_budget_ms=$((${lock_wait:-300} * 1000))
# Past this, waiting is left to the Node CLI, which also takes over locks whose owner died.
[ "$wait_budget_ms" -le 2000 ] || wait_budget_ms=2000

# True when DIR holds the complete environment of this very tarball file: the Node CLI, after
# checking the file's digest against the marker's, records the file's identity (device, inode,
# size, mtime to the nanosecond) in DIR/.poncho/tarballs/ (see src/marker.ts). One `stat`, no
# reading of the tarball. (Without GNU stat, never: the Node CLI decides.)
environment_ready() {
  [ -f "$prefix/.poncho/unpacked.json" ] || return 1
  key=$(stat -L -c %d-%i-%s-%.9Y -- "$environment" 2>/dev/null) || return 1
  [ -f "$prefix/.poncho/tarballs/$key" ]
}

# True when this script can run the command as the Node CLI would: the caller's stdin is open
# and descriptor 9 is free to carry it to the child (sh gives a background child /dev/null),
# and the command is an executable file, on the activated PATH or by its path (the Node CLI
# words the errors for the others, with exit codes 127 and 126).
can_run_here() {
  { true 8<&0; } 2>/dev/null || return 1
  ! { true >&9; } 2>/dev/null || return 1
  case $command_word in
    */*) [ -f "$command_word" ] && [ -x "$command_word" ] ;;
    *)
      # The executable the command's PATH finds (shell builtins and functions do not count).
      search=$prefix/bin${PATH:+:$PATH}:
      while [ -n "$search" ]; do
        entry=${search%%:*} search=${search#*:}
        [ -f "${entry:-.}/$command_word" ] && [ -x "${entry:-.}/$command_word" ] && return 0
      done
      return 1
      ;;
  esac
}

# `sh -c` program that sources the environment's activation scripts (the quoted paths that
# follow `.`), then replaces itself with the command: the Node CLI's form (src/activate.ts).
activation_program() {
  program=
  # Name order by bytes, as the Node CLI sorts them, whatever the locale of a bash /bin/sh.
  had_lc_all=${LC_ALL+set} saved_lc_all=${LC_ALL-}
  LC_ALL=C
  for script in "$prefix"/etc/conda/activate.d/*.sh; do
    [ -f "$script" ] || continue
    quoted= rest=$script
    while :; do
      case $rest in
        *\'*) quoted=$quoted${rest%%\'*}\'\\\'\' rest=${rest#*\'} ;;
        *) quoted=$quoted$rest; break ;;
      esac
    done
    program="$program. '$quoted'; "
  done
  if [ -n "$had_lc_all" ]; then LC_ALL=$saved_lc_all; else unset LC_ALL; fi
  program="${program}exec \"\$@\""
}

# Activates DIR and runs the command (the arguments from position command_at on) as a child.
run_in_environment() {
  can_run_here || to_node "$@"
  activation_program
  PATH=$prefix/bin${PATH:+:$PATH}
  export PATH
  unset PYTHONPATH PYTHONHOME
  CONDA_PREFIX=$prefix
  CONDA_DEFAULT_ENV=$prefix
  export CONDA_PREFIX CONDA_DEFAULT_ENV
  if [ "${PONCHO_NODE_EXTRA_CA_CERTS+set}" = set ]; then
    NODE_EXTRA_CA_CERTS=$PONCHO_NODE_EXTRA_CA_CERTS
    export NODE_EXTRA_CA_CERTS
    unset PONCHO_NODE_EXTRA_CA_CERTS
  fi
  shift $((command_at - 1))

  # A signal that comes before the child exists is kept and passed on as soon as it does.
  child= pending=
  forward() {
    if [ -n "$child" ]; then kill "-$1" "$child" 2>/dev/null; else pending=$1; fi
    caught=1
  }
  trap 'forward TERM' TERM
  trap 'forward HUP' HUP
  if [ -t 0 ] || [ -t 1 ] || [ -t 2 ]; then
    # Ctrl-C reaches the command from the terminal already.
    trap 'caught=1; [ -n "$child" ] || pending=INT' INT
  else
    trap 'forward INT' INT
  fi
  exec 9<&0
  # env gives the child back the SIGINT and SIGQUIT that sh ignores in a background command;
  # the activation scripts then run in a shell of their own, as in the Node CLI.
  env --default-signal=INT,QUIT /bin/sh -c "$program" sh "$@" 0<&9 9<&- &
  child=$!
  exec 9<&-
  [ -z "$pending" ] || kill "-$pending" "$child" 2>/dev/null
  while :; do
    caught=
    wait "$child"
    status=$?
    # A trapped signal ends `wait` early: wait again while the child is still there.
    if [ -n "$caught" ] && kill -0 "$child" 2>/dev/null; then continue; fi
    break
  done
  exit "$status"
}

# Without `env --default-signal` (coreutils < 8.31, busybox, BSD), the command could not get
# SIGINT back: every run goes to the Node CLI.
env --default-signal=INT,QUIT true 2>/dev/null || to_node "$@"

lock=${prefix%/*}/.${prefix##*/}.poncho-lock
[ -n "${prefix%/*}" ] || lock=/.${prefix##*/}.poncho-lock
waited_ms=0
pause_ms=5
while :; do
  if environment_ready; then run_in_environment "$@"; fi
  # A missing DIR: claim its lock, or wait for the run that holds it.
  if [ ! -d "$lock" ] && [ ! -e "$prefix" ] && [ ! -L "$prefix" ] && mkdir "$lock" 2>/dev/null; then
    PONCHO_RUN_CLAIMED_LOCK=$lock
    export PONCHO_RUN_CLAIMED_LOCK
    to_node "$@"
  fi
  # Not ready and nobody unpacking (or waited long enough): the Node CLI decides.
  [ -d "$lock" ] && [ "$waited_ms" -lt "$wait_budget_ms" ] || to_node "$@"
  case $pause_ms in
    5) seconds=0.005 next=10 ;;
    10) seconds=0.01 next=20 ;;
    20) seconds=0.02 next=40 ;;
    *) seconds=0.05 next=50 ;;
  esac
  sleep "$seconds" 2>/dev/null || to_node "$@"
  waited_ms=$((waited_ms + pause_ms))
  pause_ms=$next
done
