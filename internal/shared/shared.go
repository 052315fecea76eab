//go:build linux

// Package shared hands gateway connections to an agent process that serves
// several gateways of one client (a "shared agent"). The client starts the
// agent with one end of a socketpair, the control connection; for each
// gateway it makes a new socketpair and sends the agent one end over the
// control connection (SCM_RIGHTS), keeping the other as the gateway's
// connection. Nothing is named in the file system, so there is no socket to
// plant, find or check: only the client and the agent it started hold
// either end.
package shared

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// ControlFD is the descriptor of the control connection in the agent: the
// first of exec.Cmd's ExtraFiles.
const ControlFD = 3

// Pair returns the two ends of a new connected stream socketpair: one to
// keep as a net.Conn, one as a file to hand to another process. Both are
// close-on-exec; passing a file through exec.Cmd or Send dups it.
func Pair() (keep *net.UnixConn, give *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("shared: socketpair: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "shared")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("shared: %w", err)
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "shared"), nil
}

// Send hands f to the agent at the other end of ctl. The caller still owns
// f and closes it: the agent has its own copy once Send returns.
func Send(ctl *net.UnixConn, f *os.File) error {
	// One byte of data: a message with no data carries no rights on
	// some systems.
	_, _, err := ctl.WriteMsgUnix([]byte{'c'}, syscall.UnixRights(int(f.Fd())), nil)
	if err != nil {
		return fmt.Errorf("shared: sending a connection: %w", err)
	}
	return nil
}

// ErrBadMessage is Receive's error for a message that did not carry
// exactly one stream socket; the control connection can still be read.
var ErrBadMessage = errors.New("shared: a control message without exactly one stream socket")

// maxRights bounds the descriptors one message may carry; more are
// truncated by the kernel (and closed by it), and the message refused.
const maxRights = 4

// Receive waits for the next connection sent over ctl. It returns io.EOF
// once the client closed ctl, and ErrBadMessage, having closed whatever
// the message carried, for a message that is not one stream socket.
func Receive(ctl *net.UnixConn) (net.Conn, error) {
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(maxRights*4))
	n, oobn, flags, _, err := ctl.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	fds, perr := rights(oob[:oobn])
	if n == 0 && len(fds) == 0 {
		return nil, io.EOF
	}
	if perr != nil || len(fds) != 1 || flags&syscall.MSG_CTRUNC != 0 {
		closeAll(fds)
		return nil, ErrBadMessage
	}
	f := os.NewFile(uintptr(fds[0]), "shared")
	defer f.Close()
	if !isStream(fds[0]) {
		return nil, ErrBadMessage
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, ErrBadMessage
	}
	return c, nil
}

// rights returns the descriptors in the control messages oob holds.
func rights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		r, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		fds = append(fds, r...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// isStream reports whether fd is a unix stream socket: a pipe, a file or a
// socket of another kind is refused before it is served.
func isStream(fd int) bool {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return false
	}
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil || typ != syscall.SOCK_STREAM {
		return false
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return false
	}
	_, unix := sa.(*syscall.SockaddrUnix)
	return unix
}
