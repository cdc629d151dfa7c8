#!/usr/bin/env bash
# Vendor uPlot (the dashboard's charting library) from its npm package into the query API's static files.
# The files are committed, so a fresh clone, `make run` and the Docker image need neither Node.js nor the
# network; run this only to move to another uPlot version (npm checks the package's registry integrity).
#   bash services/query-api/scripts/vendor-uplot.sh [VERSION]
set -euo pipefail
VERSION="${1:-1.6.32}"
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="$HERE/../src/meterflow_api/dashboard_static/vendor/uplot"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "uplot@$VERSION" >/dev/null && tar -xzf "uplot-$VERSION.tgz")
mkdir -p "$DEST"
cp "$WORK/package/dist/uPlot.esm.js" "$WORK/package/dist/uPlot.min.css" "$WORK/package/LICENSE" "$DEST/"
echo "$VERSION" > "$DEST/VERSION"
echo "uPlot $VERSION vendored into $DEST"
