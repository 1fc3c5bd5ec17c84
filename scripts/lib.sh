# Shared shell helpers for clustermd's launchers and scripts. Source it; do not run it.

# clustermd_root: the repository root, whatever the current directory.
clustermd_root() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  printf '%s\n' "$here"
}

# java_major JAVA: prints the feature version of a java binary (17, 21, 25, ...), or nothing. Reads
# the JDK's 'release' file when there is one (no JVM start: the launchers call this every time).
java_major() {
  local release major
  release=$(dirname "$(dirname "$(readlink -f "$1")")")/release
  major=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release" 2>/dev/null || true)
  if [ -n "$major" ]; then
    printf '%s\n' "$major"
    return 0
  fi
  "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}'
}

# find_jdk: sets JAVA (the java binary) and JAVA_HOME to a JDK >= 21:
# JAVA_HOME if it is >= 21, else `java` on PATH if >= 21, else the newest under /usr/lib/jvm.
find_jdk() {
  local candidate major best="" best_major=0
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    major=$(java_major "$JAVA_HOME/bin/java")
    if [ "${major:-0}" -ge 21 ] 2>/dev/null; then JAVA="$JAVA_HOME/bin/java"; export JAVA JAVA_HOME; return 0; fi
  fi
  if candidate=$(command -v java 2>/dev/null); then
    major=$(java_major "$candidate")
    if [ "${major:-0}" -ge 21 ] 2>/dev/null; then
      JAVA="$candidate"; JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$candidate")")"); export JAVA JAVA_HOME; return 0
    fi
  fi
  for candidate in /usr/lib/jvm/*/bin/java; do
    [ -x "$candidate" ] || continue
    major=$(java_major "$candidate")
    if [ "${major:-0}" -ge 21 ] 2>/dev/null && [ "$major" -gt "$best_major" ]; then best="$candidate"; best_major=$major; fi
  done
  if [ -n "$best" ]; then
    JAVA="$best"; JAVA_HOME=$(dirname "$(dirname "$best")"); export JAVA JAVA_HOME; return 0
  fi
  echo "clustermd: no Java 21 or newer found (checked JAVA_HOME, java on PATH, /usr/lib/jvm)." >&2
  echo "clustermd: install one, e.g. 'apt-get install openjdk-21-jdk-headless' where available, or set JAVA_HOME." >&2
  return 1
}

# run_module_main MODULE MAINCLASS ARGS...: runs a built application module's jar with its runtime libs:
# from the source tree (MODULE/target), or where scripts/install put them (MODULE/*.jar beside this
# file, PREFIX/lib/clustermd).
run_module_main() {
  local module=$1 main=$2; shift 2
  local here root jar classpath
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
  if compgen -G "$here/$module/clustermd-$module-*.jar" > /dev/null; then
    classpath="$here/$module/*"
  else
    root=$(clustermd_root)
    jar=$(ls "$root/$module"/target/clustermd-"$module"-*.jar 2>/dev/null | grep -v -e sources -e tests | head -n 1 || true)
    if [ -z "$jar" ] || [ ! -d "$root/$module/target/lib" ]; then
      echo "clustermd: $module is not built yet; run '$root/scripts/build' first (scripts/demo and scripts/test build too)." >&2
      exit 2
    fi
    classpath="$jar:$root/$module/target/lib/*"
  fi
  find_jdk || exit 2
  # clusterctl: class-data sharing. The classes its runs load are kept in an archive beside its jars,
  # written by the JVM at the exit of a run that found none (or one that no longer fits the jars or
  # the JDK: it is then made again), and mapped by the next runs, which start in about half the time.
  # Where the directory is not writable and holds no archive, it runs without one. The JVM's notes
  # about the archive stay out of the command's output.
  local cds=() dir
  if [ "$module" = cmd ]; then
    dir=$(dirname "${classpath%%:*}")
    # (a file too small to be an archive is debris: the JVM would only warn about it at every run)
    if [ -w "$dir" ] && [ -f "$dir/$module.jsa" ] && [ "$(stat -c %s "$dir/$module.jsa")" -lt 65536 ]; then
      rm -f "$dir/$module.jsa"
    fi
    if [ -w "$dir" ] || [ -f "$dir/$module.jsa" ]; then
      cds=(-XX:SharedArchiveFile="$dir/$module.jsa" -XX:+AutoCreateSharedArchive -Xlog:cds=off -Xlog:cds+dynamic=off
           -XX:+DisplayVMOutputToStderr)
    fi
  fi
  exec "$JAVA" --enable-native-access=ALL-UNNAMED "${cds[@]}" ${CLUSTERMD_JAVA_OPTS:-} -cp "$classpath" "$main" "$@"
}

# make_man_pages DIR [CLASSPATH_ROOT]: writes the man pages (section 8) of clusterctl and clustermd and
# of each of their commands into DIR, from their picocli definitions (io.clustermd.cmd.ManPages). The
# jars come from the source tree's target directories, or from CLASSPATH_ROOT/{cmd,daemon}/ (an install).
make_man_pages() {
  local dir=$1 from=${2:-} root cp
  root=$(clustermd_root)
  if [ -n "$from" ]; then
    cp="$from/cmd/*:$from/daemon/*"
  else
    cp="$(ls "$root"/cmd/target/clustermd-cmd-*.jar | grep -v -e sources -e tests | head -n 1):$root/cmd/target/lib/*"
    cp="$cp:$(ls "$root"/daemon/target/clustermd-daemon-*.jar | grep -v -e sources -e tests | head -n 1):$root/daemon/target/lib/*"
  fi
  find_jdk || return 1
  mkdir -p "$dir"
  "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$cp" io.clustermd.cmd.ManPages "$dir" \
    io.clustermd.cmd.ClusterCtl io.clustermd.daemon.ClusterMd > /dev/null
}

# packages_for GROUP...: prints the Debian packages of scripts/packages used by any of the groups
# (demo, test, vmtest, bench), resolving 'A|B' to the first name this release offers.
packages_for() {
  local root line pkg groups group want alt chosen
  root=$(clustermd_root)
  while IFS= read -r line; do
    line=${line%%#*}
    read -r pkg groups <<< "$line" || true
    [ -n "${pkg:-}" ] || continue
    for want in "$@"; do
      for group in $groups; do
        [ "$group" = "$want" ] || continue
        chosen=""
        for alt in ${pkg//|/ }; do
          if [ -n "$(apt-cache policy "$alt" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}')" ] ||
             dpkg-query -W -f='${Status}' "$alt" 2>/dev/null | grep -q 'install ok installed'; then
            chosen=$alt; break
          fi
        done
        printf '%s\n' "${chosen:-${pkg%%|*}}"
        continue 3
      done
    done
  done < "$root/scripts/packages"
}

# install_packages GROUP...: installs the packages of scripts/packages used by these groups that
# are not installed yet (apt-get, as root or through sudo). Says what failed and what to do.
install_packages() {
  [ $# -gt 0 ] || set -- demo test vmtest bench
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "clustermd: this is not a Debian/Ubuntu system (no apt-get); install by hand: $(packages_for "$@" | tr '\n' ' ')" >&2
    return 1
  fi
  local missing=() pkg sudo="" log
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
    echo "clustermd: installing packages needs root (or sudo); run as root" >&2
    return 1
  fi
  # Without package lists (a new machine) apt-cache knows no candidates: update first.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
  fi
  while read -r pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < <(packages_for "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "clustermd: installing Debian packages: ${missing[*]}" >&2
  log=$(mktemp)
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq > "$log" 2>&1; then
    tail -n 5 "$log" >&2; rm -f "$log"
    echo "clustermd: 'apt-get update' failed (above): check the network and the apt sources, then run again" >&2
    return 1
  fi
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$log" 2>&1; then
    tail -n 15 "$log" >&2; rm -f "$log"
    echo "clustermd: could not install ${missing[*]} (apt-get's words above); install them by hand and run again" >&2
    return 1
  fi
  rm -f "$log"
}

# say_where_it_failed: makes a script that uses 'set -e' print the command and line that failed,
# so that no script ends with a non-zero status and nothing said.
say_where_it_failed() {
  set -o errtrace
  trap 'echo "clustermd: ${0##*/}: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
}

# maven: runs Maven with the JDK find_jdk chose, quietly about JDK 25's Unsafe notice.
maven() {
  find_jdk || return 1
  MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" mvn -B "$@"
}

# ensure_built: builds (without tests) when a launcher jar is missing or any source or pom is newer.
ensure_built() {
  local root stamp
  root=$(clustermd_root)
  # (|| true: on a checkout never built there is no jar, and the pipeline's failure must not end
  # the calling script under 'set -o pipefail' before the build starts.)
  stamp=$(ls "$root"/cmd/target/clustermd-cmd-*.jar 2>/dev/null | grep -v -e sources -e tests | head -n 1 || true)
  if [ -n "$stamp" ] && [ -d "$root/daemon/target/lib" ] && [ -d "$root/cmd/target/lib" ] &&
     [ -z "$(find "$root" -path "$root/.git" -prune -o \( -name pom.xml -o -path '*/src/main/*' \) -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "clustermd: building (about a minute the first time, more while Maven downloads)..." >&2
  if ! (cd "$root" && maven -q -DskipTests install); then
    echo "clustermd: the build failed (Maven's words above); fix that, or run '$root/scripts/build' to see it again" >&2
    return 1
  fi
}
