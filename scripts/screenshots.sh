#!/usr/bin/env bash
# Screenshots of the real window under Xvfb while a run trains: starts a
# Story A sample run from the CLI into a scratch runs folder, opens the window
# on it (Configure, then Monitor), and saves docs/screenshots/*.png.
#
# Needs: apt-get install xvfb xauth imagemagick libegl1 libgl1-mesa-dri
# Usage: scripts/screenshots.sh [BINARY]   (default target/release/workbench)
#   TRAINER=path  binary that trains the run (default: BINARY), e.g. a release CLI-only build
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/workbench}"
runs=$(mktemp -d)
out=docs/screenshots
mkdir -p "$out"
"${TRAINER:-$bin}" train --config sample_data/configs/story-a-sample.toml --runs-dir "$runs" --max-steps 400 >/dev/null 2>&1 &
trainer=$!
trap 'kill $trainer 2>/dev/null || true; rm -rf "$runs"' EXIT
sleep 90   # let some steps and evaluations land
shoot() {  # tab, file
  xvfb-run -a -s '-screen 0 1280x820x24' bash -c "
    '$bin' --runs-dir '$runs' --tab $1 & p=\$!
    sleep 10
    import -window root '$out/$2'
    kill \$p"
}
for tab in configure monitor data; do
  shoot "$tab" "$tab.png"
done
echo "wrote $out/{configure,monitor,data}.png"
