// Package e2e is burrow's private-network end-to-end test.
//
// It builds three network namespaces joined by veth pairs:
//
//	priv (10.77.1.2) ── ctl (10.77.1.1 | 10.77.2.1) ── user (10.77.2.2)
//
// ctl runs the controller and does not forward packets, so user cannot
// reach priv directly. priv runs the agent and a target service
// (testdata/targetsrv); user runs the burrow CLI and reaches the target
// service only through the controller.
//
// TestSSH drives the agent's built-in SSH server from user with the real
// OpenSSH client (ssh, scp, sftp, ssh-agent), rsync and tmux, through the
// configuration `burrow ssh-config` writes, and with `burrow ssh` and
// `burrow cp`. It creates a local user (useradd) for the login-as-another-
// user and non-root-agent cases and removes it afterwards.
//
// The tests live in files with the e2e build tag and need root and the
// ip(8) tool; without them they skip. TestSSH also needs openssh-client,
// rsync and tmux, and skips without them (it fails instead when CI is
// set):
//
//	sudo go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/
//
// Set BURROW_E2E_RACE=1 to build burrow with the race detector, and
// BURROW_E2E_VERBOSE=1 to log every process's output also when the test
// passes (it is always logged when the test fails).
package e2e
