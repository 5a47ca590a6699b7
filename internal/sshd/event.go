package sshd

// Event is something worth auditing that happened on a connection: a
// login, a program started, a forward, a program's exit.
type Event struct {
	Kind   string // one of the Event* constants
	Login  string
	Detail string // key id, command, subsystem, address, "signal TERM"
	// ExitStatus is set on EventExit; a death by signal n is 128+n.
	ExitStatus *int
}

// Event kinds, the same strings the controller stores.
const (
	EventLogin         = "ssh-login"
	EventShell         = "ssh-shell"
	EventExec          = "ssh-exec"
	EventSFTP          = "ssh-sftp"
	EventForward       = "ssh-forward"
	EventRemoteForward = "ssh-remote-forward"
	EventExit          = "ssh-exit"
)

// event reports e through Options.OnEvent, with the context ServeConn was
// given (where the caller keeps what identifies the connection).
func (c *conn) event(kind, detail string, status *int) {
	if f := c.srv.opts.OnEvent; f != nil {
		f(c.parent, Event{Kind: kind, Login: c.login, Detail: detail, ExitStatus: status})
	}
}
