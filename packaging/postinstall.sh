#!/bin/sh
# After installing or upgrading caucus: create its user and directories,
# and restart it if it runs (it snapshots the database before migrating).
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/caucus.conf
elif ! getent passwd caucus >/dev/null; then
	useradd --system --home-dir /var/lib/caucus --shell /usr/sbin/nologin caucus
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/caucus.conf
else
	install -d -m 0700 -o caucus -g caucus /var/lib/caucus
	install -d -m 0750 -o root -g caucus /etc/caucus
	install -d -m 0700 -o caucus -g caucus /var/backups/caucus
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	if systemctl is-active --quiet caucus.service; then
		systemctl restart caucus.service
	fi
fi
if [ ! -e /etc/caucus/caucus.toml ]; then
	echo "caucus: write the configuration with"
	echo "  caucus init --hostname mail.example-party.org --domain example-party.org --acme-contact you@example-party.org --config /etc/caucus/caucus.toml"
	echo "then: systemctl enable --now caucus"
fi
