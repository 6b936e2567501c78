#!/usr/bin/env bash
# propel's main job: installs what is missing (Debian packages, Fashion-MNIST included), builds in
# Release and trains an MLP on Fashion-MNIST with `propel train`'s defaults: a progress bar per
# epoch, a line per epoch, the test accuracy and speed at the end, the model saved to
# propel-model.ckpt and its loss/accuracy curves to propel-model.ckpt.png.
# Extra arguments go to `propel train`, e.g. tools/run.sh --layers 1024,1024 --epochs 5
# (`build/release/tools/propel/propel train --help` lists them all with their defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release
exec build/release/tools/propel/propel train "$@"
