#!/bin/sh
# The installed poncho_package_run and python_package_run (the name picks the CLI: the older
# positional form `python_package_run ENV command...` for python_package_run).
#
# Warm runs never start Node. When --unpack-to DIR already holds the environment of this
# tarball, this script activates it and runs the command itself: a few milliseconds, where
# starting Node costs 30-50 ms on a worker. "Holds the environment of this tarball" is what the
# Node CLI checks too: DIR/.poncho/unpacked.json (written last) and this tarball file's entry in
# DIR/.poncho/tarballs/, made once the file's digest matched the marker's (see src/marker.ts).
# Runs that find DIR being unpacked by another run wait here instead of each starting Node:
# they sleep on the unpacking run's wake lock (flock(1) on the lock directory) for up to -w
# seconds. The first run to find DIR missing claims its lock (the lock directory the Node CLI
# takes with proper-lockfile) and starts Node as its child, which takes the claim over, so that
# 16 runs started at once on a cold worker start Node once. Anything else (a temporary folder,
# an environment folder, --debug, --help, errors, unusual options or paths) goes to the Node
# CLI, which decides everything the same way.
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
node_script() {
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
  node_script=$here/$cli
}

# Ends a run stopped by signal $1 before its command started, as the Node CLI ends it: 128+N.
exit_for_signal() {
  case $1 in
    HUP) exit 129 ;;
    INT) exit 130 ;;
    *) exit 143 ;;
  esac
}

to_node() {
  # A signal kept for a command that has not started (run_in_environment) ends the run here:
  # Node, started now, would never see it.
  [ -z "$pending" ] || exit_for_signal "$pending"
  node_script
  # What this script already waited counts against -w (src/launcher-claim.ts).
  if [ "${waited_ms:-0}" -gt 0 ]; then
    PONCHO_RUN_WAITED_MS=$waited_ms
    export PONCHO_RUN_WAITED_MS
  fi
  exec node "$node_script" "$@"
}

# A signal trapped before the command exists (run_in_environment); never an inherited value.
pending=

# These variables are this script's messages to the Node CLI it starts; never trust inherited ones.
unset PONCHO_RUN_CLAIMED_LOCK PONCHO_RUN_WAKE_FD PONCHO_RUN_WAITED_MS PONCHO_RUN_SIGINT_IGNORED

# Was SIGINT ignored when this script started (`cmd &` in a script)? Then it stays ignored, for
# the command too, as sh and Python keep it. A shell cannot trap a signal ignored on entry, so
# a trap that does not run on `kill -INT $$` tells. The Node CLI, which resets every signal
# when it starts, is told in PONCHO_RUN_SIGINT_IGNORED.
sigint_seen=
trap 'sigint_seen=1' INT
kill -INT $$
if [ -n "$sigint_seen" ]; then
  trap - INT
  sigint_ignored=
else
  sigint_ignored=1
  PONCHO_RUN_SIGINT_IGNORED=1
  export PONCHO_RUN_SIGINT_IGNORED
fi
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
  # Without `env --default-signal` (coreutils < 8.31, busybox, BSD), the command could not get
  # SIGINT back: the Node CLI runs it. (Asked here, not at the start: a cold run goes to Node
  # anyway, and each process the launcher starts costs it a few milliseconds.)
  env --default-signal=INT,QUIT true 2>/dev/null || to_node "$@"
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

  child= pending=
  forward() {
    if [ -n "$child" ]; then kill "-$1" "$child" 2>/dev/null; else pending=$1; fi
    caught=1
  }
  trap 'forward TERM' TERM
  trap 'forward HUP' HUP
  trap_interrupt
  # A signal that came before the command starts ends the run (as in the Node CLI): passed on
  # to a child that has not yet replaced this shell's copy, it could be lost.
  [ -z "$pending" ] || exit_for_signal "$pending"
  exec 9<&0
  # env gives the child back the SIGINT and SIGQUIT that sh ignores in a background command;
  # the activation scripts then run in a shell of their own, as in the Node CLI.
  env --default-signal="$restored_signals" /bin/sh -c "$program" sh "$@" 0<&9 9<&- &
  child=$!
  exec 9<&-
  wait_for_child
  exit "$status"
}

# The signals the command gets back to their default action: sh ignores SIGINT and SIGQUIT in
# a background child; SIGINT stays ignored when it was on entry.
if [ -n "$sigint_ignored" ]; then restored_signals=QUIT; else restored_signals=INT,QUIT; fi

# SIGINT: passed on to the child, except on a terminal, where Ctrl-C reaches it by itself (and
# when it was ignored on entry: a shell cannot trap it then).
trap_interrupt() {
  [ -z "$sigint_ignored" ] || return 0
  if [ -t 0 ] || [ -t 1 ] || [ -t 2 ]; then
    trap 'caught=1; [ -n "$child" ] || pending=INT' INT
  else
    trap 'forward INT' INT
  fi
}

# Waits for the child, passing signals on, and exits with its status.
wait_for_child() {
  [ -z "$pending" ] || kill "-$pending" "$child" 2>/dev/null
  while :; do
    caught=
    wait "$child"
    status=$?
    # A trapped signal ends `wait` early: wait again while the child is still there.
    if [ -n "$caught" ] && kill -0 "$child" 2>/dev/null; then continue; fi
    break
  done
}

# Milliseconds since boot, from /proc/uptime (no fork); empty where there is none.
now_ms() {
  now= up= idle=
  read -r up idle </proc/uptime 2>/dev/null || return 0
  case $up in
    *.??) ;;
    *) return 0 ;;
  esac
  now=${up%.*}${up#*.}
  now=${now#"${now%%[!0]*}"}
  now=$((${now:-0} * 10))
}

# The first run to find DIR missing claims it and starts the Node CLI, which unpacks: the claim
# is an exclusive flock(1) on DIR's wake file (.DIR.poncho-wake, beside DIR), held on descriptor
# 8, which Node inherits and closes once the environment is ready (or the run failed). The runs
# that find it held sleep on it (sleep_on_wake_lock) and wake at once. The kernel lets go of a
# flock when its holder dies, however early: a run stopped before Node has signal handlers
# leaves nothing behind (Node makes the lock directory itself, with its handlers in place).
# Returns when another run holds the claim; starts Node without one when descriptor 8 is taken.
claim_and_start_node() {
  { true >&8; } 2>/dev/null && to_node "$@"
  # (DIR's parent is made when missing, as the Node CLI would.)
  { command exec 8>>"$wake"; } 2>/dev/null ||
    { mkdir -p -- "${lock%/*}" 2>/dev/null && { command exec 8>>"$wake"; } 2>/dev/null; } ||
    to_node "$@"
  if flock -x -n 8 2>/dev/null; then
    PONCHO_RUN_CLAIMED_LOCK=$lock PONCHO_RUN_WAKE_FD=8
    export PONCHO_RUN_CLAIMED_LOCK PONCHO_RUN_WAKE_FD
    to_node "$@"
  fi
  exec 8>&-
}

# Sleeps until the run unpacking into DIR lets go of the wake file, or for at most $1 ms. False
# at once when no run holds it (an unpacker started without this script, a file system without
# flock, no flock(1)): the caller polls instead.
sleep_on_wake_lock() {
  [ -n "$started_ms" ] || return 1 # without a clock, the wait could not be counted
  [ -f "$wake" ] || return 1
  flock -s -n "$wake" true 2>/dev/null
  [ $? = 1 ] || return 1
  seconds=$(($1 / 1000)) fraction=$(($1 % 1000))
  case $fraction in ?) fraction=00$fraction ;; ??) fraction=0$fraction ;; esac
  flock -s -w "$seconds.$fraction" "$wake" true 2>/dev/null
  return 0
}

lock=${prefix%/*}/.${prefix##*/}.poncho-lock
[ -n "${prefix%/*}" ] || lock=/.${prefix##*/}.poncho-lock
wake=${lock%-lock}-wake
waited_ms=0 polled_ms=0 pause_ms=5
now_ms
started_ms=$now
while :; do
  if environment_ready; then run_in_environment "$@"; fi
  # A missing DIR: claim it, or wait for the run that did.
  if [ ! -d "$lock" ] && [ ! -e "$prefix" ] && [ ! -L "$prefix" ]; then
    claim_and_start_node "$@"
  fi
  [ "$waited_ms" -lt "$wait_budget_ms" ] || to_node "$@"
  if ! sleep_on_wake_lock $((wait_budget_ms - waited_ms)); then
    # Nobody holds the wake file: the run that did may have finished since the check above.
    if environment_ready; then run_in_environment "$@"; fi
    # Not ready and nobody unpacking: the Node CLI decides.
    [ -d "$lock" ] || to_node "$@"
    # Nothing to sleep on: poll, for 2 s at most; then the Node CLI waits (it also takes over
    # the lock of a run that died).
    [ "$polled_ms" -lt 2000 ] || to_node "$@"
    case $pause_ms in
      5) seconds=0.005 next=10 ;;
      10) seconds=0.01 next=20 ;;
      20) seconds=0.02 next=40 ;;
      *) seconds=0.05 next=50 ;;
    esac
    sleep "$seconds" 2>/dev/null || to_node "$@"
    polled_ms=$((polled_ms + pause_ms))
    pause_ms=$next
  fi
  now_ms
  if [ -n "$now" ] && [ -n "$started_ms" ]; then
    waited_ms=$((now - started_ms))
  else
    waited_ms=$polled_ms
  fi
done
