#!/bin/sh
# Before removing caucus: stop it. The data in /var/lib/caucus stays.
set -e
if [ -d /run/systemd/system ] && [ "$1" != "upgrade" ] && [ "$1" != "1" ]; then
	systemctl disable --now caucus.service >/dev/null 2>&1 || true
fi
