#!/usr/bin/env bash
# install_test — what `cmake --install` and the Debian package deliver.
#
# Installs the build into a temporary prefix and checks: every program,
# manual page, example config, document and systemd file is there; the
# installed programs answer --version with the build's version; the units
# name the installed programs and hold no unfilled @...@; the manual pages
# format without warnings (man, when present); `systemd-analyze verify`
# accepts the units (when systemd-analyze is present); and, when cpack and
# dpkg-deb are present, the .deb is named polku_VERSION_amd64.deb, its
# polku-broker says that version, and it holds the same files under /usr
# and declares its library dependencies.
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d /tmp/polku-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" ||
  { cat "$tmp/install.log" >&2; fail "cmake --install"; exit 1; }

files=(
  sbin/polku-broker sbin/polku-agent bin/polku
  share/man/man1/polku.1 share/man/man5/polku.ini.5
  share/man/man8/polku-broker.8 share/man/man8/polku-agent.8
  share/doc/polku/README.md share/doc/polku/operations.md
  share/doc/polku/architecture.md
  share/doc/polku/examples/broker.ini share/doc/polku/examples/agent.ini
  lib/systemd/system/polku-broker.service
  lib/systemd/system/polku-broker@.service
  lib/systemd/system/polku-agent@.service
  lib/sysusers.d/polku.conf lib/tmpfiles.d/polku.conf
)
for f in "${files[@]}"; do
  [ -s "$prefix/$f" ] || fail "$f not installed"
done
ok "${#files[@]} files installed into the prefix"
for p in sbin/polku-broker sbin/polku-agent bin/polku; do
  [ -x "$prefix/$p" ] || fail "$p not executable"
done

# --version: the installed programs say the build's version.
want=$("$build/polku-broker" --version | head -1 | cut -d' ' -f2)
[[ "$want" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "version '$want' does not start with X.Y.Z"
for p in sbin/polku-broker sbin/polku-agent bin/polku; do
  got=$("$prefix/$p" --version | head -1)
  [ "$got" = "$(basename "$p") $want" ] || fail "$p --version said '$got', expected '$(basename "$p") $want'"
done
ok "--version: $want"

# The units run the installed programs with a config under the prefix.
units="$prefix/lib/systemd/system"
grep -q "^ExecStart=$prefix/sbin/polku-broker --config $prefix/etc/polku/broker.ini\$" \
  "$units/polku-broker.service" || fail "polku-broker.service ExecStart"
grep -q "^ExecStart=$prefix/sbin/polku-agent --config $prefix/etc/polku/%i.ini\$" \
  "$units/polku-agent@.service" || fail "polku-agent@.service ExecStart"
for u in "$units"/*.service; do
  if grep -n '@[A-Z_]*@' "$u"; then fail "$(basename "$u") holds an unfilled placeholder"; fi
  for key in Type=notify Restart=on-failure User=polku ProtectSystem=strict \
             'ExecReload=/bin/kill -HUP \$MAINPID' \
             NoNewPrivileges=yes PrivateTmp=yes LimitNOFILE= ReadWritePaths=; do
    grep -q "^$key" "$u" || fail "$(basename "$u") lacks $key"
  done
done
ok "units name the installed programs and set the hardening"

if command -v man > /dev/null; then
  for m in "$prefix"/share/man/man*/*; do
    warnings=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$m" 2>&1 > /dev/null || true)
    [ -z "$warnings" ] || fail "man $(basename "$m"): $warnings"
  done
  ok "manual pages format without warnings"
else
  echo "skip: man is not installed"
fi

if command -v systemd-analyze > /dev/null; then
  vdir="$tmp/units"
  mkdir -p "$vdir"
  cp "$units/polku-broker.service" "$vdir/"
  cp "$units/polku-agent@.service" "$vdir/polku-agent@kela.service"
  cp "$units/polku-broker@.service" "$vdir/polku-broker@primary.service"
  if (cd "$vdir" && MANPATH="$prefix/share/man:" systemd-analyze verify \
        polku-broker.service polku-agent@kela.service \
        polku-broker@primary.service) > "$tmp/verify.log" 2>&1 &&
     ! grep -v '^$' "$tmp/verify.log"; then
    ok "systemd-analyze verify accepts polku-broker.service and polku-agent@.service"
  else
    cat "$tmp/verify.log" >&2
    fail "systemd-analyze verify"
  fi
  exposure=$(cd "$vdir" && systemd-analyze security --offline=yes polku-broker.service 2>/dev/null |
             sed -n 's/.*Overall exposure level for polku-broker.service: \([0-9.]*\).*/\1/p')
  if [ -n "$exposure" ]; then
    awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' ||
      fail "systemd-analyze security: exposure $exposure, expected at most 2.0"
    ok "systemd-analyze security: exposure $exposure"
  fi
else
  echo "skip: systemd-analyze is not installed (Debian package systemd)"
fi

if command -v cpack > /dev/null && command -v dpkg-deb > /dev/null &&
   command -v dpkg-shlibdeps > /dev/null; then
  (cd "$build" && cpack -G DEB -B "$tmp/pkg") > "$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; exit 1; }
  debs=("$tmp"/pkg/polku_*_amd64.deb)
  deb=${debs[0]}
  [ -f "$deb" ] || { fail "no polku_*_amd64.deb"; exit 1; }
  # cpack rebuilds what changed first: the version is the build's now.
  want=$("$build/polku-broker" --version | head -1 | cut -d' ' -f2)
  [ "$(basename "$deb")" = "polku_${want}_amd64.deb" ] ||
    fail "package $(basename "$deb"), expected polku_${want}_amd64.deb"
  dpkg-deb -x "$deb" "$tmp/unpacked"
  got=$("$tmp/unpacked/usr/sbin/polku-broker" --version | head -1)
  [ "$got" = "polku-broker $want" ] ||
    fail "the packaged polku-broker --version said '$got', expected 'polku-broker $want'"
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./usr/||' > "$tmp/contents"
  for f in "${files[@]}"; do
    grep -qx "$f" "$tmp/contents" || fail "$f missing from the package"
  done
  depends=$(dpkg-deb -f "$deb" Depends)
  for lib in libzmq5 liblmdb0 libuv1 libsodium23 libjansson4 libmicrohttpd12 \
             libprotobuf-c1 libinih1 adduser; do
    [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
  done
  dpkg-deb -I "$deb" postinst > /dev/null || fail "the package has no postinst"
  ok "$(basename "$deb"): files, Depends ($depends), postinst"
else
  echo "skip: cpack, dpkg-deb or dpkg-shlibdeps missing (Debian packages cmake, dpkg-dev)"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "install_test: all passed"
