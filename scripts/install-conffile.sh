#!/bin/sh
# install-conffile.sh MODE SHIPPED TARGET: installs a configuration file the operator edits, as
# package managers treat a conffile. A TARGET that does not exist gets SHIPPED; one that holds the
# same bytes is left alone; one the operator changed is kept, and SHIPPED goes beside it as
# TARGET.new with a line saying so, so that a newer shipped version is seen rather than lost.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 MODE SHIPPED TARGET" >&2; exit 2; }
mode=$1 shipped=$2 target=$3
if [ ! -e "$target" ]; then
	install -D -m "$mode" "$shipped" "$target"
elif cmp -s "$shipped" "$target"; then
	:
else
	install -m "$mode" "$shipped" "$target.new"
	echo "kept $target (changed here); the shipped version is $target.new: compare them (diff $target $target.new) and merge what you want"
fi
