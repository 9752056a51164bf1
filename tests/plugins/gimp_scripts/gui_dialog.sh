#!/bin/bash
# Runs INSIDE the GIMP chroot (hosts.sh shell): real GIMP 3 with its GUI on a private Xvfb, a fresh
# profile holding the plug-in, dialog_case.py as the batch script, and xkeys.py answering its dialogs
# (Return = OK in the first, Escape = Cancel in the second), then Ctrl+Z / Ctrl+Y in the image window.
# Usage: gui_dialog.sh WORK_DIR PLUGIN_DIR SPEC_JSON      (WORK_DIR must be bound into the chroot)
set -u
work=$1 plugin=$2 spec=$3
here=$(cd "$(dirname "$0")" && pwd)
out=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["out_dir"])' "$spec")
export HOME=$work/home
mkdir -p "$HOME/.config/GIMP/3.0/plug-ins"
rm -rf "$HOME/.config/GIMP/3.0/plug-ins/seam-refine"
cp -a "$plugin" "$HOME/.config/GIMP/3.0/plug-ins/seam-refine"
chmod +x "$HOME/.config/GIMP/3.0/plug-ins/seam-refine/seam-refine.py"

mkdir -p "$work/fb"
rm -f "$work/display"
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -fbdir "$work/fb" 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb=$!
for _ in $(seq 200); do [ -s "$work/display" ] && break; kill -0 $xvfb 2>/dev/null || break; sleep 0.05; done
if [ ! -s "$work/display" ]; then echo "gui_dialog: Xvfb failed to start" >&2; cat "$work/xvfb.log" >&2; exit 3; fi
disp=$(head -n1 "$work/display")

code='import os, sys, runpy
sys.argv = [os.environ["DIALOG_SCRIPT"], os.environ["DIALOG_SPEC"]]
runpy.run_path(sys.argv[0], run_name="__main__")
'
DISPLAY=":$disp" DIALOG_SCRIPT="$here/dialog_case.py" DIALOG_SPEC="$spec" \
  gimp-3.0 --no-splash --no-fonts --stack-trace-mode=never --batch-interpreter=python-fu-eval -b "$code" \
  --quit </dev/null >"$work/gimp.log" 2>&1 &
gimp=$!

press() {  # $1 = dialog number, $2 = key
  for _ in $(seq 1200); do [ -e "$out/dialog$1.open" ] && break; kill -0 $gimp 2>/dev/null || return 1; sleep 0.05; done
  python3 "$here/xkeys.py" "$disp" "Seam Refine" "$2" --timeout 60 \
    --snapshot "$work/fb/Xvfb_screen0" "$work/dialog$1.xwd"
}
keys() {  # $1 = step, $2 = window title part, $3 = keys: wait for STEP.ready, press, touch STEP.pressed
  for _ in $(seq 1200); do [ -e "$out/$1.ready" ] && break; kill -0 $gimp 2>/dev/null || return 1; sleep 0.05; done
  python3 "$here/xkeys.py" "$disp" "$2" "$3" --timeout 15 && touch "$out/$1.pressed"
}
rc=0
press 1 Return || rc=$?
[ $rc = 0 ] && { press 2 Escape || rc=$?; }
[ $rc = 0 ] && { keys undo "– GIMP" ctrl+z || rc=$?; }
[ $rc = 0 ] && { keys redo "– GIMP" ctrl+y || rc=$?; }
for _ in $(seq 600); do kill -0 $gimp 2>/dev/null || break; sleep 0.1; done
if kill -0 $gimp 2>/dev/null; then echo "gui_dialog: GIMP did not quit" >&2; kill $gimp; rc=124; fi
wait $gimp; grc=$?
kill $xvfb 2>/dev/null; wait $xvfb 2>/dev/null
cat "$work/gimp.log"
echo "gui_dialog: xkeys rc=$rc gimp rc=$grc"
[ $rc = 0 ] || exit $rc
exit $grc
