# run_or_print COMMAND ARGS...: runs the command, or with DRY_RUN=1 prints it (one line,
# quoted where a shell needs it) and runs nothing. Sourced by the scripts that take DRY_RUN.
run_or_print() {
  if [ "${DRY_RUN:-0}" != 1 ]; then
    "$@"
    return
  fi
  local arg line=""
  for arg in "$@"; do
    if [[ "${arg}" =~ ^[A-Za-z0-9_./=,:+@-]*$ ]]; then
      line+="${arg} "
    else
      line+="$(printf '%q' "${arg}") "
    fi
  done
  echo "${line% }"
}
