package bufpool

import (
	"testing"

	"google.golang.org/grpc/mem"
)

var _ mem.BufferPool = Pool{}

func TestClasses(t *testing.T) {
	for _, tt := range []struct{ n, cap int }{
		{1, 4<<10 + Slack},
		{1025, 4<<10 + Slack},
		{4<<10 + Slack + 1, 16<<10 + Slack},
		{16<<10 + Slack, 16<<10 + Slack},
		{16<<10 + Slack + 1, 32<<10 + Slack},
		{256 << 10, 256<<10 + Slack},
		{256<<10 + Slack + 1, 256<<10 + Slack + 1},
	} {
		b := Get(tt.n)
		if len(*b) != tt.n || cap(*b) != tt.cap {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", tt.n, len(*b), cap(*b), tt.cap)
		}
		Put(b)
	}
}

func TestReuse(t *testing.T) {
	b := Get(100)
	(*b)[0] = 7
	Put(b)
	for range 100 { // sync.Pool may drop it; it usually does not
		c := Get(50 << 8)
		if len(*c) != 50<<8 {
			t.Fatalf("len %d", len(*c))
		}
		Put(c)
	}
}
