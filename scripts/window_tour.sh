#!/usr/bin/env bash
# A tour of the real window under Xvfb, driven as a person would with the
# mouse and keyboard (xdotool): open the window on a config, click Launch,
# wait for training metrics (and a validation point), click through the
# Monitor, Data, Evaluate (evaluating the running run's adapter there) and
# Configure tabs taking a screenshot of each during the run, press Esc to
# cancel, and wait for the run to say so.
#
# Needs: apt-get install xvfb xauth xdotool imagemagick libegl1 libgl1-mesa-dri
# Usage: scripts/window_tour.sh OUT_DIR CONFIG RUNS_DIR [BINARY]
#   BINARY defaults to target/release/workbench.
#   VAL_POINTS=N   evaluations to wait for before the screenshots (default 1)
#   TIMEOUT=S      give up after S seconds of waiting for any one thing (default 600)
# Prints one line per step; exits non-zero (with the reason) if anything fails.
# The docs screenshots: scripts/screenshots.sh.
set -euo pipefail
out=$1 config=$2 runs=$3 bin=${4:-target/release/workbench}
val_points=${VAL_POINTS:-1} timeout=${TIMEOUT:-600}
mkdir -p "$out" "$runs"

# Where things are in the window, from its top-left corner.
tab_x() { case $1 in configure) echo 204 ;; monitor) echo 281 ;; data) echo 342 ;; evaluate) echo 404 ;; esac; }
tab_y=12
launch_xy="966 44"
evaluate_xy="440 44"   # "Evaluate base vs ticked runs" on the Evaluate tab

# A display of our own.
for n in $(seq 90 190); do [ -e /tmp/.X11-unix/X$n ] || [ -e /tmp/.X$n-lock ] || break; done
export DISPLAY=:$n
Xvfb "$DISPLAY" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
home=$(mktemp -d)   # a fresh HOME: nothing remembered from an earlier session
pids="$xvfb"
trap 'kill $pids 2>/dev/null || true; rm -rf "$home"' EXIT

wait_for() {  # description, command...
  local what=$1; shift
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - start > timeout )); then echo "timed out waiting for $what" >&2; exit 1; fi
    sleep 1
  done
  echo "ok: $what"
}
wait_for "the X server" test -e "/tmp/.X11-unix/X$n"

HOME=$home XDG_DATA_HOME=$home/.local/share "$bin" --runs-dir "$runs" --config "$config" --tab configure >"$out/window.log" 2>&1 &
window=$!
pids="$pids $window"
wait_for "the window" xdotool search --onlyvisible --name "LoRA Workbench"
wid=$(xdotool search --onlyvisible --name "LoRA Workbench" | head -1)
xdotool windowfocus --sync "$wid"
sleep 3
import -window "$wid" "$out/before-launch.png"

# Coordinates are relative to the window (the first start sizes it to the screen and centres it).
click() { xdotool mousemove --window "$wid" --sync "$1" "$2" click 1; sleep 0.5; }
run_dir() { ls -d "$runs"/*/ 2>/dev/null | head -1; }
# Click Launch, and again every 15 s until a run directory appears: a click
# before the first frame is drawn is lost. (Not more often: preparing a run
# takes seconds, and the window then shows the Monitor tab under the pointer.)
last_click=-100
launched() {
  [ -n "$(run_dir)" ] && return 0
  if (( SECONDS - last_click >= 15 )); then click $launch_xy; last_click=$SECONDS; fi
  return 1
}
wait_for "a run directory after clicking Launch" launched
metrics() { cat "$(run_dir)/metrics.jsonl" 2>/dev/null; }
has_val_points() { [ "$(metrics | grep -c '"val_loss"')" -ge "$val_points" ]; }
wait_for "$val_points validation point(s)" has_val_points

for tab in monitor data evaluate configure; do
  click "$(tab_x $tab)" $tab_y
  sleep 4   # the Data tab reads and tokenizes the file
  if [ $tab = evaluate ]; then
    # Perplexity of base vs the running run's adapter, computed while the run trains.
    click $evaluate_xy
    wait_for "the evaluation (while the run trains)" test -s "$(run_dir)/evaluations.json"
    sleep 1
  fi
  import -window "$wid" "$out/$tab.png"
  echo "screenshot: $out/$tab.png"
done

# Press Esc until the run says it was cancelled (Esc does nothing once no run is active).
cancelled() {
  grep -q '"state": *"cancelled"' "$(run_dir)/status.json" || { xdotool windowfocus --sync "$wid" key Escape; false; }
}
wait_for "the run to be cancelled after pressing Esc" cancelled
sleep 2
import -window "$wid" "$out/cancelled.png"
kill "$window" 2>/dev/null || true
echo "tour done: $(run_dir)"
