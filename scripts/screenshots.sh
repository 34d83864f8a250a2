#!/usr/bin/env bash
# The README's screenshots (docs/screenshots/*.png): the window tour
# (scripts/window_tour.sh: real window under Xvfb, clicked with xdotool) on the
# Story A sample config, with screenshots of each tab taken while the run
# trains, after its second evaluation.
#
# Needs: the packages .ci/run installs (xvfb, xdotool, imagemagick, Mesa).
# Usage: scripts/screenshots.sh [BINARY]   (default target/release/workbench;
#        build it with `cargo build --release -p workbench`)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/workbench}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
VAL_POINTS=${VAL_POINTS:-2} scripts/window_tour.sh "$work/shots" sample_data/configs/story-a-sample.toml "$work/runs" "$bin"
mkdir -p docs/screenshots
for tab in configure monitor data evaluate; do
  cp "$work/shots/$tab.png" docs/screenshots/
done
echo "wrote docs/screenshots/{configure,monitor,data,evaluate}.png"
