// Package admin holds the plain operations of caucus's admins: invite
// people (one, or many from a CSV file), suspend and resume them, offboard
// departed staff with a report of every step, invite campaign volunteers
// as a cohort with one sponsor and one end (and end it with one report),
// list the people with what the dashboard warns about, expire accounts,
// switch incident mode (with its freeze, backup, prepared message and
// checklist) and check the DNS records. Each action is written to the audit log with the
// admin's name, and its report is kept for download.
//
// The actions are plain functions on [Ops], with no HTTP: the web console
// (package admin/console) and `caucus admin` (over the control socket,
// package admin/ctl) both call them. Arrows point one way: console and ctl
// import admin, admin imports the domains (auth, files, mail), and no
// domain imports admin.
package admin
