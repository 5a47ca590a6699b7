package sshca

import (
	"fmt"
	"regexp"
	"strings"
)

// keyIDPrefix starts the key id of every burrow user certificate.
const keyIDPrefix = "burrow:"

// UserKeyID is the key id of a user certificate issued for a token:
// "burrow:<org>:<subject>:<token id>", so that `ssh-keygen -L` and every
// sshd log line name the user and the org. Agents and sshd's KRL refuse
// certificates by it once the token is revoked.
func UserKeyID(org, subject, tokenID string) string {
	return keyIDPrefix + org + ":" + subject + ":" + tokenID
}

// ParseUserKeyID splits a key id UserKeyID made. The org is the first
// field and the token id the last (neither holds a colon), so a subject
// may hold colons.
func ParseUserKeyID(id string) (org, subject, tokenID string, ok bool) {
	rest, ok := strings.CutPrefix(id, keyIDPrefix)
	if !ok {
		return "", "", "", false
	}
	org, rest, ok1 := strings.Cut(rest, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok1 || i < 0 {
		return "", "", "", false
	}
	subject, tokenID = rest[:i], rest[i+1:]
	if org == "" || subject == "" || tokenID == "" {
		return "", "", "", false
	}
	return org, subject, tokenID, true
}

// ParseLegacyUserKeyID splits "burrow:<subject>:<token id>", the key id
// of certificates issued before key ids named the org; they are valid for
// 12 hours at most, so this form can go a release after the org came.
func ParseLegacyUserKeyID(id string) (subject, tokenID string, ok bool) {
	rest, ok := strings.CutPrefix(id, keyIDPrefix)
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// RevokedKeyIDs are the key ids to refuse once a token is revoked:
// UserKeyID's, and "burrow:<subject>:<token id>", the form from before
// key ids named the org, which certificates issued then carry until they
// expire (12 hours at most).
func RevokedKeyIDs(org, subject, tokenID string) []string {
	return []string{UserKeyID(org, subject, tokenID), keyIDPrefix + subject + ":" + tokenID}
}

var orgName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CheckOrg checks an org's name: one DNS label, as it is also part of
// target names (NAME.<org>.burrow).
func CheckOrg(name string) error {
	if !orgName.MatchString(name) {
		return fmt.Errorf("%q is not a valid org name (1 to 63 lowercase letters, digits and '-', not at either end)", name)
	}
	return nil
}
