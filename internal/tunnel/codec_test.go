package tunnel

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// pieces splits b into ref-counted pooled buffers at the given cut sizes, as
// gRPC hands a message made of several HTTP/2 DATA frames to the codec.
func pieces(b []byte, cuts []byte) mem.BufferSlice {
	var s mem.BufferSlice
	for i := 0; len(b) > 0; i++ {
		n := len(b)
		if i < len(cuts) {
			n = min(n, int(cuts[i])+1)
		}
		s = append(s, mem.Copy(b[:n], mem.DefaultBufferPool()))
		b = b[n:]
	}
	return s
}

// decode runs Codec.Unmarshal the way gRPC does (the input is freed right
// after) and returns the frame with its payload materialized.
func decode(t *testing.T, wire []byte, cuts []byte) (frame, []byte, error) {
	t.Helper()
	in := pieces(wire, cuts)
	var f frame
	err := Codec.Unmarshal(in, &f)
	in.Free()
	data := f.payload.Materialize()
	f.payload.Free()
	f.payload = nil
	return f, data, err
}

func TestCodecMatchesProto(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	for _, tt := range []struct {
		name string
		msg  *tunnelpb.Frame
	}{
		{"empty", &tunnelpb.Frame{}},
		{"data", &tunnelpb.Frame{Data: []byte("hello")}},
		{"big data", &tunnelpb.Frame{Data: big}},
		{"eof with data", &tunnelpb.Frame{Data: []byte("x"), Eof: true}},
		{"opened", &tunnelpb.Frame{Opened: true}},
		{"open error", &tunnelpb.Frame{OpenError: "connect: connection refused"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			for _, cuts := range [][]byte{nil, {0}, {0, 0, 0}, {2, 7, 200}, bytes.Repeat([]byte{255}, 400)} {
				f, data, err := decode(t, wire, cuts)
				if err != nil {
					t.Fatalf("cuts %v: %v", cuts, err)
				}
				if !bytes.Equal(data, tt.msg.Data) || f.eof != tt.msg.Eof || f.opened != tt.msg.Opened || f.openError != tt.msg.OpenError {
					t.Fatalf("cuts %v: decoded %+v (%d bytes), want %v", cuts, f, len(data), tt.msg)
				}
			}
			out, err := Codec.Marshal(&frame{data: tt.msg.Data, eof: tt.msg.Eof, opened: tt.msg.Opened, openError: tt.msg.OpenError})
			if err != nil {
				t.Fatal(err)
			}
			got := new(tunnelpb.Frame)
			if err := proto.Unmarshal(out.Materialize(), got); err != nil {
				t.Fatal(err)
			}
			out.Free()
			if !proto.Equal(got, tt.msg) {
				t.Fatalf("Marshal then proto.Unmarshal = %v, want %v", got, tt.msg)
			}
		})
	}
}

func TestCodecDelegates(t *testing.T) {
	in := &tunnelpb.Instruction{Action: &tunnelpb.Instruction_Ping{Ping: &tunnelpb.Ping{Seq: 7}}}
	out, err := Codec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got := new(tunnelpb.Instruction)
	if err := Codec.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	out.Free()
	if got.GetPing().GetSeq() != 7 {
		t.Fatalf("got %v", got)
	}
}

func TestCodecRejects(t *testing.T) {
	var tag = func(n protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, n, typ) }
	for name, wire := range map[string][]byte{
		"truncated length":    append(tag(fieldData, protowire.BytesType), 10, 'a'),
		"truncated varint":    append(tag(fieldEOF, protowire.VarintType), 0x80),
		"field zero":          {0x00, 0x01},
		"bad utf-8":           append(tag(fieldOpenError, protowire.BytesType), 1, 0xff),
		"unclosed group":      tag(9, protowire.StartGroupType),
		"huge length":         append(tag(fieldData, protowire.BytesType), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"varint overflow":     append(tag(fieldEOF, protowire.VarintType), bytes.Repeat([]byte{0xff}, 10)...),
		"reserved wire type":  {0x0e},
		"unknown bytes short": append(tag(20, protowire.BytesType), 5, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := decode(t, wire, []byte{0, 1}); err == nil {
				t.Fatal("accepted")
			}
			if err := proto.Unmarshal(wire, new(tunnelpb.Frame)); err == nil {
				t.Fatal("proto accepts it: the test case is wrong")
			}
		})
	}
}

// FuzzFrameCodec checks that Codec decodes exactly what proto.Unmarshal
// decodes for Frame, however the bytes are split into buffers, and that
// every accepted frame survives a Marshal round trip.
func FuzzFrameCodec(f *testing.F) {
	for _, m := range []*tunnelpb.Frame{
		{Data: []byte("hello")}, {Eof: true}, {Opened: true}, {OpenError: "refused"},
		{Data: bytes.Repeat([]byte{1}, 300), Eof: true},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b, []byte{3, 0, 100})
	}
	f.Add([]byte{0x0a, 0x02, 'h', 'i', 0x0a, 0x01, 'x', 0xa0, 0x01, 0x05}, []byte{1})
	f.Fuzz(func(t *testing.T, wire, cuts []byte) {
		got, data, err := decode(t, wire, cuts)
		want := new(tunnelpb.Frame)
		werr := proto.Unmarshal(wire, want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("codec error %v, proto error %v", err, werr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(data, want.Data) || got.eof != want.Eof || got.opened != want.Opened || got.openError != want.OpenError {
			t.Fatalf("codec %+v data %q, proto %v", got, data, want)
		}
		out, err := Codec.Marshal(&frame{data: data, eof: got.eof, opened: got.opened, openError: got.openError})
		if err != nil {
			t.Fatal(err)
		}
		back := new(tunnelpb.Frame)
		if err := proto.Unmarshal(out.Materialize(), back); err != nil {
			t.Fatal(err)
		}
		out.Free()
		want.ProtoReflect().SetUnknown(nil)
		if !proto.Equal(back, want) {
			t.Fatalf("round trip %v, want %v", back, want)
		}
	})
}
