package rpc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
)

// Page tokens (AIP-158) are opaque to clients: the base64url (no padding)
// of
//
//	version (1) | list (1: 'c' channels, 's' streams) |
//	query (8: a hash of the filters the pages share) |
//	time (8, big-endian Unix nanoseconds) | id (32 or 16) | crc32 (4)
//
// The time and id are the place of the entry examined last (a
// node.ChannelCursor or apps.StreamCursor), so a token stays valid across
// restarts and while entries come and go. A token that does not decode, is
// another list's, or was given for other filters is refused with
// InvalidArgument; it carries no secret and grants nothing (any place in
// the list is one a client may ask for).

const (
	pageTokenVersion = 1
	pageListChannels = 'c'
	pageListStreams  = 's'
	// maxPageToken bounds the text of a token read (a real one is 72
	// characters at most).
	maxPageToken = 128
)

// pageSize checks a request's page_size; 0 is the default, and more than
// node.MaxPageSize is taken as it.
func pageSize(n int32) (int, error) {
	if n < 0 {
		return 0, badArg("page_size %d: must not be negative (0 means %d; at most %d)", n, node.DefaultPageSize, node.MaxPageSize)
	}
	return node.PageLimit(int(n)), nil
}

func pageQuery(list byte, filters []byte) [8]byte {
	h := sha256.New()
	h.Write([]byte{list})
	h.Write(filters)
	return [8]byte(h.Sum(nil))
}

func encodePageToken(list byte, filters []byte, at int64, id []byte) string {
	q := pageQuery(list, filters)
	b := make([]byte, 0, 2+8+8+len(id)+4)
	b = append(b, pageTokenVersion, list)
	b = append(b, q[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = append(b, id...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken reads a token of list given for filters, with an id of
// idLen bytes.
func decodePageToken(tok string, list byte, filters []byte, idLen int) (at int64, id []byte, err error) {
	const notOurs = "page_token is not one this node gave out: pass the next_page_token of the previous reply unchanged"
	if len(tok) > maxPageToken {
		return 0, nil, badArg("%s (it is %d characters long)", notOurs, len(tok))
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2+8+8+4 || b[0] != pageTokenVersion ||
		binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.ChecksumIEEE(b[:len(b)-4]) {
		return 0, nil, badArg("%s", notOurs)
	}
	if b[1] != list {
		return 0, nil, badArg("page_token is a %s token, not a %s one", pageListName(b[1]), pageListName(list))
	}
	if len(b) != 2+8+8+idLen+4 {
		return 0, nil, badArg("%s", notOurs)
	}
	if q := pageQuery(list, filters); [8]byte(b[2:10]) != q {
		return 0, nil, badArg("page_token was given for other filters: repeat the filters of the first request unchanged while paging")
	}
	return int64(binary.BigEndian.Uint64(b[10:18])), b[18 : 18+idLen], nil
}

func pageListName(list byte) string {
	switch list {
	case pageListChannels:
		return "ListChannels"
	case pageListStreams:
		return "ListStreams"
	}
	return "unknown list's"
}

func channelFilters(peer crypto.Address, all bool) []byte {
	return append(peer[:], boolByte(all))
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func channelPageToken(peer crypto.Address, all bool, c *node.ChannelCursor) string {
	if c == nil {
		return ""
	}
	return encodePageToken(pageListChannels, channelFilters(peer, all), c.Created, c.ID[:])
}

func channelCursor(tok string, peer crypto.Address, all bool) (*node.ChannelCursor, error) {
	if tok == "" {
		return nil, nil
	}
	at, id, err := decodePageToken(tok, pageListChannels, channelFilters(peer, all), len(channel.ID{}))
	if err != nil {
		return nil, err
	}
	return &node.ChannelCursor{Created: at, ID: channel.ID(id)}, nil
}

func streamPageToken(all bool, c *apps.StreamCursor) string {
	if c == nil {
		return ""
	}
	return encodePageToken(pageListStreams, []byte{boolByte(all)}, c.Started, c.ID[:])
}

func streamCursor(tok string, all bool) (*apps.StreamCursor, error) {
	if tok == "" {
		return nil, nil
	}
	at, id, err := decodePageToken(tok, pageListStreams, []byte{boolByte(all)}, 16)
	if err != nil {
		return nil, err
	}
	return &apps.StreamCursor{Started: at, ID: [16]byte(id)}, nil
}
