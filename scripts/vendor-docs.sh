#!/usr/bin/env bash
# Vendors Swagger UI, the renderer of GET /docs, into web/apidocs/vendor.
#
# The files are committed and embedded in the binary, so that /docs works
# with no network; this script only exists to make them reproducible: it
# fetches the pinned npm version, checks the tarball against the pinned
# integrity (npm's own sha512), copies the dist files the page uses plus the
# licences, and rewrites SHA256SUMS. web/apidocs's tests check the files
# against SHA256SUMS and VERSION against the pin below, so an upgrade is:
# change VERSION and INTEGRITY (`npm view swagger-ui-dist@X dist.integrity`),
# run this script, run `go test ./web/... ./ui/`, commit.
#
# Needs npm (or curl), tar, sha256sum and openssl.
set -euo pipefail

PACKAGE=swagger-ui-dist
VERSION=5.35.0
INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==

# Only the full bundle (React and Swagger UI in one classic script) and its
# stylesheet are served; the standalone preset (a top bar that loads any URL)
# and the ES-module builds are left out on purpose.
FILES=(swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)

cd "$(dirname "$0")/.."
dest=web/apidocs/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tarball="$tmp/$PACKAGE-$VERSION.tgz"
if command -v npm >/dev/null; then
  (cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
else
  curl -fsSL -o "$tarball" "https://registry.npmjs.org/$PACKAGE/-/$PACKAGE-$VERSION.tgz"
fi
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "vendor-docs: $PACKAGE@$VERSION is $got, pinned $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp"

rm -rf "$dest"
mkdir -p "$dest"
for f in "${FILES[@]}"; do
  cp "$tmp/package/$f" "$dest/$f"
done
echo "$PACKAGE $VERSION" >"$dest/VERSION"
(cd "$dest" && sha256sum "${FILES[@]}" VERSION >SHA256SUMS)
echo "vendored $PACKAGE $VERSION into $dest:"
cat "$dest/SHA256SUMS"
