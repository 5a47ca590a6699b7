// Package bufpool recycles the byte buffers that carry session data, in a
// few size classes. Buffers are not zeroed: every user overwrites what it
// exposes (a read fills what it returns, an encoder writes every byte).
// Pool implements gRPC's mem.BufferPool, so a buffer handed to gRPC comes
// back here once it has been sent.
package bufpool

import "sync"

// Slack is spare room past each class's size, for a frame header.
const Slack = 64

// Classes are the buffer sizes kept, smallest first. gRPC takes a buffer
// for every DATA frame over 1 KiB and keeps it until the stream is read, so
// the smallest class bounds what a peer sending small frames makes a
// stalled stream hold: at most 4× its flow-control window, as with gRPC's
// own pool.
var Classes = [...]int{4 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10}

var pools [len(Classes)]sync.Pool

// class returns the index of the smallest class that holds n bytes, or -1.
func class(n int) int {
	for i, s := range Classes {
		if n <= s+Slack {
			return i
		}
	}
	return -1
}

// Get returns a buffer of length n. Its bytes are not zeroed.
func Get(n int) *[]byte {
	i := class(n)
	if i < 0 {
		b := make([]byte, n)
		return &b
	}
	if v := pools[i].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, Classes[i]+Slack)
	return &b
}

// Put recycles b; buffers that did not come from Get are dropped.
func Put(b *[]byte) {
	c := cap(*b)
	for i, s := range Classes {
		if c == s+Slack {
			pools[i].Put(b)
			return
		}
	}
}

// Pool is Get and Put as a gRPC mem.BufferPool.
type Pool struct{}

// Get implements mem.BufferPool.
func (Pool) Get(n int) *[]byte { return Get(n) }

// Put implements mem.BufferPool.
func (Pool) Put(b *[]byte) { Put(b) }
