#!/usr/bin/env bash
# Installs the machine packages the local stack needs, when they are missing: PostgreSQL's server
# binaries, Java 17+ (Kafka) and Maven (resolves the Kafka jars once), and what the browser and
# proxy tests run (Chromium, pdftotext, Hangul fonts, nginx, promtool), and Postfix, the relay of
# the e-mail test. Python packages are not installed here (the Makefile puts them in .venv). As
# root it uses apt-get; otherwise it says what to install and stops.
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 \
  || need+=(postgresql)

java_major() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$java" >/dev/null 2>&1 || { echo 0; return; }
  "$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
[ "$(java_major)" -ge 17 ] 2>/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# The browser test of the e-mail: headless Chromium, pdftotext, and fonts with Hangul.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
# The proxy test runs the shipped deploy/nginx/telebill.conf in front of the API.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# promtool checks and unit-tests deploy/prometheus/alerts.yml; Debian ships it in `prometheus`.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The SMTP test runs a private Postfix instance (its own directory and port) as the relay.
command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] || need+=(postfix)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Postfix's system instance stays unconfigured (no /etc/postfix/main.cf, nothing on port 25):
# the tests start instances of their own, and the machine's mail is not ours to take over.
if [[ " ${need[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
# The packages' daemons (prometheus, nginx, postfix) are not wanted running: without a
# policy-rc.d (as in Docker images) one that denies service starts is put in place for the
# install, then removed.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
