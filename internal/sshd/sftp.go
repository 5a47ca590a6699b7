package sshd

import (
	"errors"
	"io"
	"os"

	"github.com/pkg/sftp"
)

// sftp starts the sftp subsystem. For the agent's own user it runs in
// process; for another user it runs Options.SFTPCommand as that user, so
// the file system checks that user's permissions. It never runs on a
// terminal.
func (s *session) sftp() (relay func()) {
	acct, err := lookupAccount(s.c.login)
	if err != nil {
		return s.failed(err)
	}
	if acct.uid == uint32(os.Getuid()) {
		return func() {
			err := ServeSFTP(channelStream{s.ch}, acct.home)
			s.exit(nil, err)
		}
	}
	argv := s.c.srv.opts.SFTPCommand
	if len(argv) == 0 {
		return s.failed(errors.New("sftp as another user is not available on this agent"))
	}
	return s.startPipes(acct, program{kind: "subsystem", argv: argv})
}

// channelStream is a session channel as the sftp server's stream: its
// Close leaves the channel open, for exit reports the exit status first.
type channelStream struct{ io.ReadWriter }

func (channelStream) Close() error { return nil }

// MaxSFTPData is the most data one SFTP read or write moves with this
// server: OpenSSH's limit (256 KiB messages, less 1 KiB for headers).
const MaxSFTPData = 255 << 10

// ServerVersion is the SSH identification of the built-in server. `burrow
// cp` asks for MaxSFTPData per request only from a server that says
// exactly this (pkg/sftp's client drops the rest of a short read), so it
// changes whenever MaxSFTPData does: servers before it said
// "SSH-2.0-burrow" and served 32 KiB.
const ServerVersion = "SSH-2.0-burrow_2"

// ServeSFTP serves SFTP on rw until the client ends, starting in dir.
// `burrow sftp-server` runs it on stdin and stdout.
//
// The server reuses its packet buffers (WithAllocator): a buffer goes back
// to the allocator only after its response was written to the channel, and
// it saves an allocation per 32 KiB read, about a fifth of a download's time.
// It answers reads of up to MaxSFTPData bytes, as OpenSSH's sftp-server
// does; a client asks for 32 KiB unless it knows better (`burrow cp` does).
func ServeSFTP(rw io.ReadWriteCloser, dir string) error {
	srv, err := sftp.NewServer(rw, sftp.WithServerWorkingDirectory(dir), sftp.WithAllocator(), sftp.WithMaxTxPacket(MaxSFTPData))
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
