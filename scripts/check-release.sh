#!/usr/bin/env bash
# Checks the release configuration without releasing anything:
#   1. `goreleaser check` on .goreleaser.yml when goreleaser is installed (on PATH or in ./.cache/bin); without
#      it, the keys the Terraform Registry depends on are checked by reading the YAML;
#   2. terraform-registry-manifest.json says protocol 6.0, the protocol main.go serves;
#   3. every goos/goarch of .goreleaser.yml builds with CGO_ENABLED=0, -trimpath and the release's ldflags, and
#      the version reaches the binary;
#   4. CHANGELOG.md has a section for the version, when one is given.
# goreleaser is not installed by this script: `go install github.com/goreleaser/goreleaser/v2@v2.16.0` takes
# many minutes (v2.17+ need a dependency the module proxy refuses, v2.18+ need Go 1.27); run
# `GOBIN=$PWD/.cache/bin go install github.com/goreleaser/goreleaser/v2@v2.16.0` once to get the full check.
# With --snapshot and goreleaser installed, it also runs `goreleaser release --snapshot --clean --skip=sign,publish`
# and lists dist/ (archives, SHA256SUMS, manifest).
# Usage: scripts/check-release.sh [--snapshot] [--version X.Y.Z]
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot=0
version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --snapshot) snapshot=1 ;;
    --version) version="${2#v}"; shift ;;
    *) echo "usage: $0 [--snapshot] [--version X.Y.Z]" >&2; exit 2 ;;
  esac
  shift
done

fail=0
err() { echo "error: $*" >&2; fail=1; }

goreleaser=""
if [ -x .cache/bin/goreleaser ]; then
  goreleaser=.cache/bin/goreleaser
elif command -v goreleaser >/dev/null 2>&1; then
  goreleaser=$(command -v goreleaser)
fi

echo "-- .goreleaser.yml"
if [ -n "$goreleaser" ]; then
  "$goreleaser" check || fail=1
else
  echo "goreleaser not installed: checking the Registry's keys only (see the header of $0)"
fi
# The keys the Registry relies on, checked whether or not goreleaser ran (goreleaser accepts a config without them).
python3 - <<'PY' || fail=1
import sys
try:
    import yaml
except ImportError:
    print("python3 has no yaml module: skipping the key checks"); sys.exit(0)
c = yaml.safe_load(open(".goreleaser.yml"))
problems = []
def need(cond, msg):
    if not cond: problems.append(msg)
need(c.get("version") == 2, "version: 2 (goreleaser v2 syntax)")
builds = c.get("builds") or []
need(len(builds) == 1, "exactly one build")
b = builds[0] if builds else {}
need("CGO_ENABLED=0" in (b.get("env") or []), "builds[0].env has CGO_ENABLED=0")
need(any("-X main.version={{.Version}}" in l for l in b.get("ldflags") or []), "builds[0].ldflags sets -X main.version={{.Version}}")
need(set(b.get("goos") or []) >= {"linux", "darwin", "windows", "freebsd"}, "builds[0].goos has linux, darwin, windows, freebsd")
need(set(b.get("goarch") or []) >= {"amd64", "arm64"}, "builds[0].goarch has amd64, arm64")
need(b.get("binary") == "{{ .ProjectName }}_v{{ .Version }}", "builds[0].binary is {{ .ProjectName }}_v{{ .Version }}")
a = (c.get("archives") or [{}])[0]
need("zip" in (a.get("formats") or [a.get("format")]), "archives[0] is zip")
need(a.get("name_template") == "{{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}", "archive name {{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}")
manifest = {"glob": "terraform-registry-manifest.json", "name_template": "{{ .ProjectName }}_{{ .Version }}_manifest.json"}
ck = c.get("checksum") or {}
need(manifest in (ck.get("extra_files") or []), "checksum.extra_files has the registry manifest")
need(ck.get("algorithm") == "sha256" and ck.get("name_template") == "{{ .ProjectName }}_{{ .Version }}_SHA256SUMS", "checksum is sha256 named {{ .ProjectName }}_{{ .Version }}_SHA256SUMS")
need(manifest in ((c.get("release") or {}).get("extra_files") or []), "release.extra_files has the registry manifest")
signs = c.get("signs") or []
need(any(s.get("artifacts") == "checksum" and "{{ .Env.GPG_FINGERPRINT }}" in (s.get("args") or []) for s in signs), "signs: the checksum, with GPG_FINGERPRINT")
for p in problems: print("error: .goreleaser.yml needs " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

echo "-- terraform-registry-manifest.json"
python3 - <<'PY' || fail=1
import json, sys
m = json.load(open("terraform-registry-manifest.json"))
if m != {"version": 1, "metadata": {"protocol_versions": ["6.0"]}}:
    print('error: terraform-registry-manifest.json should be {"version":1,"metadata":{"protocol_versions":["6.0"]}}, got', m, file=sys.stderr)
    sys.exit(1)
PY
grep -q 'providerserver.Serve' main.go || err "main.go does not serve with providerserver (protocol 6): the manifest says 6.0"

echo "-- cross builds (CGO_ENABLED=0, the release's ldflags)"
ldflags='-s -w -X main.version=0.0.0-release-check'
targets=$(python3 -c '
import yaml
b = yaml.safe_load(open(".goreleaser.yml"))["builds"][0]
ignore = {(i.get("goos"), i.get("goarch")) for i in b.get("ignore") or []}
print(" ".join(o + "/" + a for o in b["goos"] for a in b["goarch"] if (o, a) not in ignore))
' 2>/dev/null || echo "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 freebsd/amd64 freebsd/arm64")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in $targets; do
  goos=${t%/*} goarch=${t#*/}
  if log=$(CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -ldflags "$ldflags" -o "$out/$goos-$goarch" . 2>&1); then
    echo "ok    $t"
  else
    echo "FAIL  $t"
    printf '%s\n' "$log" | sed 's/^/      /'
    fail=1
  fi
done
host="$out/$(go env GOOS)-$(go env GOARCH)"
if [ -f "$host" ]; then
  # (-trimpath keeps -ldflags out of the build info, so look for the version string itself.)
  if ! grep -aq '0\.0\.0-release-check' "$host"; then
    err "the version ldflag (-X main.version) does not reach the binary: is main.version still the variable?"
  fi
  if go version -m "$host" | grep -q 'CGO_ENABLED=1'; then
    err "the binary was built with cgo"
  fi
fi

if [ -n "$version" ]; then
  echo "-- CHANGELOG.md"
  grep -q "^## $version " CHANGELOG.md || grep -qx "## $version" CHANGELOG.md || err "CHANGELOG.md has no '## $version' section"
fi

if [ "$snapshot" = 1 ]; then
  if [ -z "$goreleaser" ]; then
    err "--snapshot needs goreleaser"
  elif [ "$fail" = 0 ]; then
    echo "-- goreleaser release --snapshot"
    "$goreleaser" release --snapshot --clean --skip=sign,publish
    ls -l dist/*.zip dist/*SHA256SUMS
    grep -q '_manifest\.json$' dist/*SHA256SUMS || err "the SHA256SUMS file does not list the registry manifest"
  fi
fi

if [ "$fail" != 0 ]; then
  echo "release check failed" >&2
  exit 1
fi
echo "release configuration ok"
