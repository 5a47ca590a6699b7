package sshca

import (
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
)

// OpenSSH key revocation lists (KRL, PROTOCOL.krl in OpenSSH's sources):
// the binary file that sshd's RevokedKeys option names. burrow needs one
// kind of record: certificates of any CA revoked by key id, as
// `ssh-keygen -k -s none` writes them. golang.org/x/crypto/ssh has no KRL
// support and no KRL module could be had, so the few records are written
// here with ssh.Marshal; the tests compare them with ssh-keygen's.
const (
	krlMagic         = 0x5353484b524c0a00 // "SSHKRL\n\0"
	krlFormatVersion = 1
	krlCertificates  = 1    // KRL_SECTION_CERTIFICATES
	krlCertKeyID     = 0x23 // KRL_SECTION_CERT_KEY_ID
)

// StillRevoked reports whether the certificates of a token revoked at
// revokedAt (nil: not revoked) and expiring at expiresAt (nil: never) may
// still be valid at now, so that servers must be told to refuse them:
// it was revoked less than MaxTTL ago (a certificate issued before is
// expired by then) and has not expired (no certificate outlives its
// token).
func StillRevoked(revokedAt, expiresAt *time.Time, now time.Time) bool {
	switch {
	case revokedAt == nil, now.Sub(*revokedAt) >= MaxTTL:
		return false
	case expiresAt != nil && !now.Before(*expiresAt):
		return false
	}
	return true
}

// MarshalKRL returns a KRL that revokes the certificates whose key id is
// one of keyIDs, whichever CA signed them: burrow's key ids name a token
// ("burrow:<org>:<subject>:<token id>"), and a machine's TrustedUserCAKeys may
// still list a retired burrow CA. version should grow with each list
// (sshd does not check it); generated is when the list was made; comment
// is shown by `ssh-keygen -Ql`. With no key ids the KRL revokes nothing.
func MarshalKRL(keyIDs []string, version uint64, generated time.Time, comment string) []byte {
	krl := ssh.Marshal(struct {
		Magic     uint64
		Format    uint32
		Version   uint64
		Generated uint64
		Flags     uint64
		Reserved  string
		Comment   string
	}{krlMagic, krlFormatVersion, version, uint64(generated.Unix()), 0, "", comment})
	if len(keyIDs) == 0 {
		return krl
	}
	var ids []byte
	for _, id := range slices.Compact(slices.Sorted(slices.Values(keyIDs))) {
		ids = append(ids, ssh.Marshal(struct{ ID string }{id})...)
	}
	certs := ssh.Marshal(struct {
		CAKey    []byte // empty: certificates of any CA
		Reserved string
		Sub      []byte `ssh:"rest"`
	}{nil, "", krlSection(krlCertKeyID, ids)})
	return append(krl, krlSection(krlCertificates, certs)...)
}

// krlSection is a section (or subsection) of a KRL: its type, then its
// data as a string.
func krlSection(kind byte, data []byte) []byte {
	return ssh.Marshal(struct {
		Type byte
		Data []byte
	}{kind, data})
}

// KRLHeader returns the version and generation time of the KRL in b; ok
// is false when b is not a KRL. With MarshalKRL it tells whether a KRL
// file already revokes a list: marshal the list with the file's version
// and time and compare the bytes.
func KRLHeader(b []byte) (version uint64, generated time.Time, ok bool) {
	var h struct {
		Magic     uint64
		Format    uint32
		Version   uint64
		Generated uint64
		Rest      []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(b, &h); err != nil || h.Magic != krlMagic || h.Format != krlFormatVersion {
		return 0, time.Time{}, false
	}
	return h.Version, time.Unix(int64(h.Generated), 0), true
}
