package sshcert

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// ServerCiphers is the cipher list both SSH servers offer. In SSH the
// client's order picks the cipher, and OpenSSH puts ChaCha20-Poly1305
// first; but x/crypto has no assembly for it on amd64, so on a CPU with AES
// instructions it runs several times slower than AES-GCM (it was 45% of the
// gateway's CPU under scp). There the servers leave it out; PreferGCM then
// steers OpenSSH before 10.0 past its next choice, aes128-ctr, to AES-GCM
// (OpenSSH 10 prefers GCM already). The CTR
// modes stay offered for clients without GCM (PuTTY before 0.76, Paramiko,
// OpenSSH configured without it). Without AES instructions (nil)
// x/crypto's defaults apply.
func ServerCiphers() []string {
	if !aesHardware() {
		return nil
	}
	return []string{
		"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
		"aes128-ctr", "aes192-ctr", "aes256-ctr",
	}
}

func aesHardware() bool {
	switch runtime.GOARCH {
	case "amd64":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	}
	return false
}
