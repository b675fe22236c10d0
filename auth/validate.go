package auth

// ValidateGroupName checks a group name: 1 to 64 of a-z, 0-9, '-', '_'
// and '.' (the local part of the group's mail address).
func ValidateGroupName(name string) error { return validGroupName(name) }

// ValidateDisplayName checks a person's name as CreateInvite does: 1 to 200
// characters of valid UTF-8, no control characters.
func ValidateDisplayName(name string) error { return validDisplayName(name) }
