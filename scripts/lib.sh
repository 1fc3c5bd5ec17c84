# Shared shell helpers for clustermd's launchers and scripts. Source it; do not run it.

# clustermd_root: the repository root, whatever the current directory.
clustermd_root() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  printf '%s\n' "$here"
}

# java_major JAVA: prints the feature version of a java binary (17, 21, 25, ...), or nothing.
java_major() {
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

# run_module_main MODULE MAINCLASS ARGS...: runs a built application module's jar with its runtime libs.
run_module_main() {
  local module=$1 main=$2; shift 2
  local root jar
  root=$(clustermd_root)
  jar=$(ls "$root/$module"/target/clustermd-"$module"-*.jar 2>/dev/null | grep -v -e sources -e tests | head -n 1)
  if [ -z "$jar" ] || [ ! -d "$root/$module/target/lib" ]; then
    echo "clustermd: $module is not built yet; run '$root/scripts/build' first (scripts/demo and scripts/test build too)." >&2
    exit 2
  fi
  find_jdk || exit 2
  exec "$JAVA" --enable-native-access=ALL-UNNAMED ${CLUSTERMD_JAVA_OPTS:-} \
    -cp "$jar:$root/$module/target/lib/*" "$main" "$@"
}

# install_packages: installs every package named in scripts/packages that is not installed yet.
install_packages() {
  local root missing=() pkg
  root=$(clustermd_root)
  while read -r pkg; do
    pkg=${pkg%%#*}; pkg=${pkg//[[:space:]]/}
    [ -n "$pkg" ] || continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < "$root/scripts/packages"
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "clustermd: installing Debian packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
  stamp=$(ls "$root"/cmd/target/clustermd-cmd-*.jar 2>/dev/null | grep -v tests | head -n 1)
  if [ -n "$stamp" ] && [ -d "$root/daemon/target/lib" ] && [ -d "$root/cmd/target/lib" ] &&
     [ -z "$(find "$root" -path "$root/.git" -prune -o \( -name pom.xml -o -path '*/src/main/*' \) -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "clustermd: building (this takes a minute the first time)..." >&2
  (cd "$root" && maven -q -DskipTests install)
}
