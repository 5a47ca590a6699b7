package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/burrow-dev/burrow/internal/bufpool"
)

// Codec is the gRPC codec of the controller and of every client of it. A
// session's data frames (the Frame message of tunnel.proto) are encoded with
// protowire straight into one pooled buffer, and decoded without copying:
// the received frame keeps references to gRPC's receive buffers until Read
// has consumed them. Every other message, and Frame values passed as
// *tunnelpb.Frame, go to gRPC's standard proto codec. The codec is named
// "proto": the bytes on the wire are exactly those of the proto codec, so a
// peer using generated code for tunnel.proto interoperates unchanged.
//
// Install it with grpc.ForceServerCodecV2 on the server and
// grpc.ForceCodecV2 as a default call option on clients (GRPCServerOptions and
// ClientOptions do both).
var Codec encoding.CodecV2 = frameCodec{std: encoding.GetCodecV2(grpcproto.Name)}

// Field numbers of message Frame in tunnel.proto.
const (
	fieldData      protowire.Number = 1
	fieldEOF       protowire.Number = 2
	fieldOpenError protowire.Number = 3
	fieldOpened    protowire.Number = 4
)

// frame is a Frame on its way through Codec. Outgoing frames carry either
// data, which the codec copies, or payload, buffers whose references gRPC
// takes over and frees once written. Incoming frames carry payload,
// references into gRPC's receive buffers that the receiver must Free once
// consumed.
type frame struct {
	data      []byte
	payload   mem.BufferSlice
	eof       bool
	opened    bool
	openError string
}

type frameCodec struct{ std encoding.CodecV2 }

func (frameCodec) Name() string { return grpcproto.Name }

// Marshal encodes a *frame into one buffer from bufpool, which gRPC returns
// to the pool once the bytes are written. (gRPC's default pool zeroes every
// buffer it hands out, and has no class between 32 KiB and 1 MiB.)
func (c frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return c.std.Marshal(v)
	}
	if f.payload != nil {
		return marshalPayload(f), nil
	}
	size := 0
	if len(f.data) > 0 {
		size += protowire.SizeTag(fieldData) + protowire.SizeBytes(len(f.data))
	}
	if f.eof {
		size += protowire.SizeTag(fieldEOF) + protowire.SizeVarint(1)
	}
	if f.openError != "" {
		size += protowire.SizeTag(fieldOpenError) + protowire.SizeBytes(len(f.openError))
	}
	if f.opened {
		size += protowire.SizeTag(fieldOpened) + protowire.SizeVarint(1)
	}
	pool := bufpool.Pool{}
	buf := pool.Get(size)
	b := (*buf)[:0]
	if len(f.data) > 0 {
		b = protowire.AppendTag(b, fieldData, protowire.BytesType)
		b = protowire.AppendBytes(b, f.data)
	}
	if f.eof {
		b = protowire.AppendTag(b, fieldEOF, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if f.openError != "" {
		b = protowire.AppendTag(b, fieldOpenError, protowire.BytesType)
		b = protowire.AppendString(b, f.openError)
	}
	if f.opened {
		b = protowire.AppendTag(b, fieldOpened, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalPayload encodes a data frame in place: a small header buffer, then
// the payload's own buffers.
func marshalPayload(f *frame) mem.BufferSlice {
	n := f.payload.Len()
	hdr := make([]byte, 0, protowire.SizeTag(fieldData)+protowire.SizeVarint(uint64(n))+4)
	hdr = protowire.AppendTag(hdr, fieldData, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(n))
	out := make(mem.BufferSlice, 0, len(f.payload)+2)
	out = append(out, mem.SliceBuffer(hdr))
	out = append(out, f.payload...)
	if f.eof {
		out = append(out, mem.SliceBuffer(protowire.AppendVarint(protowire.AppendTag(nil, fieldEOF, protowire.VarintType), 1)))
	}
	return out
}

// Unmarshal decodes into a *frame without copying its data. It accepts what
// proto.Unmarshal accepts for Frame (fields in any order, repeated scalars
// where the last wins, unknown fields skipped) and rejects the rest.
func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return c.std.Unmarshal(data, v)
	}
	*f = frame{}
	if err := decodeFrame(&cursor{s: data}, f); err != nil {
		f.payload.Free()
		f.payload = nil
		return fmt.Errorf("tunnel frame: %w", err)
	}
	return nil
}

var errTruncated = errors.New("truncated message")

func decodeFrame(r *cursor, f *frame) error {
	for r.remaining() > 0 {
		tag, err := r.varint()
		if err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(tag)
		if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
			return fmt.Errorf("invalid field number %d", num)
		}
		switch {
		case num == fieldData && typ == protowire.BytesType:
			n, err := r.length()
			if err != nil {
				return err
			}
			f.payload.Free() // a repeated field: the last one wins
			f.payload = r.take(n)
		case num == fieldOpenError && typ == protowire.BytesType:
			n, err := r.length()
			if err != nil {
				return err
			}
			s := r.take(n)
			f.openError = string(s.Materialize())
			s.Free()
			if !utf8.ValidString(f.openError) {
				return errors.New("open_error is not valid UTF-8")
			}
		case (num == fieldEOF || num == fieldOpened) && typ == protowire.VarintType:
			x, err := r.varint()
			if err != nil {
				return err
			}
			if num == fieldEOF {
				f.eof = x != 0
			} else {
				f.opened = x != 0
			}
		default: // unknown, or a known field with another wire type
			if err := r.skip(num, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// cursor reads a BufferSlice front to back without copying it.
type cursor struct {
	s   mem.BufferSlice
	i   int // current buffer
	off int // offset in it
}

func (r *cursor) remaining() int {
	n := 0
	for _, b := range r.s[r.i:] {
		n += b.Len()
	}
	return n - r.off
}

// varint decodes one varint, which may straddle buffers.
func (r *cursor) varint() (uint64, error) {
	var tmp [binary.MaxVarintLen64]byte
	n := r.peek(tmp[:])
	x, used := protowire.ConsumeVarint(tmp[:n])
	if used < 0 {
		return 0, protowire.ParseError(used)
	}
	r.advance(used)
	return x, nil
}

// length reads a length prefix and checks it against what is left.
func (r *cursor) length() (int, error) {
	x, err := r.varint()
	if err != nil {
		return 0, err
	}
	if x > uint64(r.remaining()) {
		return 0, errTruncated
	}
	return int(x), nil
}

// peek copies up to len(p) bytes from the current position.
func (r *cursor) peek(p []byte) int {
	n, i, off := 0, r.i, r.off
	for n < len(p) && i < len(r.s) {
		c := copy(p[n:], r.s[i].ReadOnlyData()[off:])
		n += c
		i, off = i+1, 0
	}
	return n
}

func (r *cursor) advance(n int) {
	for n > 0 {
		left := r.s[r.i].Len() - r.off
		if n < left {
			r.off += n
			return
		}
		n -= left
		r.i, r.off = r.i+1, 0
	}
}

// rest copies what is left, without advancing.
func (r *cursor) rest() []byte {
	p := make([]byte, r.remaining())
	r.peek(p)
	return p
}

// take returns the next n bytes as views that hold their own references.
func (r *cursor) take(n int) mem.BufferSlice {
	var out mem.BufferSlice
	for n > 0 {
		b := r.s[r.i]
		end := min(b.Len(), r.off+n)
		if end > r.off {
			out = append(out, b.Slice(r.off, end))
		}
		n -= end - r.off
		if end == b.Len() {
			r.i, r.off = r.i+1, 0
		} else {
			r.off = end
		}
	}
	return out
}

// skip passes over an unknown field's value.
func (r *cursor) skip(num protowire.Number, typ protowire.Type) error {
	var n int
	switch typ {
	case protowire.VarintType:
		_, err := r.varint()
		return err
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		var err error
		if n, err = r.length(); err != nil {
			return err
		}
	default: // groups, and invalid types: rare, so copy what is left
		rest := r.rest()
		if n = protowire.ConsumeFieldValue(num, typ, rest); n < 0 {
			return protowire.ParseError(n)
		}
	}
	if n > r.remaining() {
		return errTruncated
	}
	r.advance(n)
	return nil
}
