package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// Interrupted is the cause of a context SignalContext ended: the signal
// that arrived.
type Interrupted struct{ Signal syscall.Signal }

func (i Interrupted) Error() string { return i.Signal.String() + " signal received" }

// SignalContext is signal.NotifyContext for SIGINT and SIGTERM whose
// cause (context.Cause) is an Interrupted naming the signal, so that a
// command can exit 128+n as a shell reports it.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			if sig, ok := s.(syscall.Signal); ok {
				cancel(Interrupted{sig})
			} else {
				cancel(errors.New(s.String() + " signal received"))
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// interruptStatus is the exit status for a context a signal ended
// (128+n), or 130 (SIGINT's) if the cause does not say which.
func interruptStatus(ctx context.Context) int {
	var i Interrupted
	if errors.As(context.Cause(ctx), &i) {
		return 128 + int(i.Signal)
	}
	return 128 + int(syscall.SIGINT)
}
