package capture

import (
	"context"
	"errors"
	"fmt"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xproto"
	"golang.org/x/sys/unix"

	"github.com/screenfleet/screenfleet/internal/xconn"
)

// shmSegment is a System V shared memory segment attached both here and in
// the X server, into which the server writes captured images.
type shmSegment struct {
	seg  shm.Seg
	data []byte
}

// attachSHM creates a segment of size bytes and attaches it on both sides.
// The segment is marked for removal before returning, so the kernel frees
// it when the last side detaches, even if this process crashes.
func attachSHM(ctx context.Context, c *xgb.Conn, root xproto.Window, size int) (*shmSegment, error) {
	if err := xconn.InitExtension(ctx, c, shm.Init); err != nil {
		return nil, fmt.Errorf("mit-shm extension: %w", err)
	}
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600)
	if err != nil {
		return nil, fmt.Errorf("shmget %d bytes: %w", size, err)
	}
	defer func() { _, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil) }()

	data, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("shmat: %w", err)
	}
	s := &shmSegment{data: data}
	if err := s.attachServer(ctx, c, id); err != nil {
		_ = unix.SysvShmDetach(data)
		return nil, err
	}
	if err := s.verify(ctx, c, root); err != nil {
		_ = unix.SysvShmDetach(data)
		return nil, err
	}
	return s, nil
}

func (s *shmSegment) attachServer(ctx context.Context, c *xgb.Conn, id int) error {
	seg, err := shm.NewSegId(c)
	if err != nil {
		return fmt.Errorf("allocate segment id: %w", err)
	}
	_, err = xconn.Await(ctx, func() (struct{}, error) {
		return struct{}{}, shm.AttachChecked(c, seg, uint32(id), false).Check()
	})
	if err != nil {
		return fmt.Errorf("server attach of shm segment %d: %w", id, err)
	}
	s.seg = seg
	return nil
}

// verify checks that the server writes into our segment and not into an
// unrelated one with the same id, which happens when the server runs in
// another IPC namespace (another container) whose ids start from the same
// small numbers. It fills a few bytes, then asks for one pixel with an empty
// plane mask, which the server must write as zeros.
func (s *shmSegment) verify(ctx context.Context, c *xgb.Conn, root xproto.Window) error {
	copy(s.data, []byte{0xa5, 0xa5, 0xa5, 0xa5})
	_, err := xconn.Await(ctx, func() (*shm.GetImageReply, error) {
		return shm.GetImage(c, xproto.Drawable(root), 0, 0, 1, 1, 0,
			xproto.ImageFormatZPixmap, s.seg, 0).Reply()
	})
	if err != nil {
		return fmt.Errorf("shm test image: %w", err)
	}
	for _, b := range s.data[:4] {
		if b != 0 {
			return errors.New("server did not write into the shared segment " +
				"(different IPC namespace?)")
		}
	}
	return nil
}

// image asks the server to write the w×h screen contents into the segment
// and returns them.
func (s *shmSegment) image(
	ctx context.Context, c *xgb.Conn, root xproto.Window, w, h int,
) ([]byte, error) {
	reply, err := xconn.Await(ctx, func() (*shm.GetImageReply, error) {
		return shm.GetImage(c, xproto.Drawable(root), 0, 0, uint16(w), uint16(h),
			0xffffffff, xproto.ImageFormatZPixmap, s.seg, 0).Reply()
	})
	if err != nil {
		return nil, fmt.Errorf("shm get image: %w", err)
	}
	if int(reply.Size) > len(s.data) {
		return nil, fmt.Errorf("shm get image: server wrote %d bytes into a %d-byte segment",
			reply.Size, len(s.data))
	}
	return s.data[:reply.Size], nil
}

// detach unmaps the segment in this process. The server's attachment goes
// away with the connection, and the kernel then frees the segment.
func (s *shmSegment) detach() error {
	if err := unix.SysvShmDetach(s.data); err != nil {
		return fmt.Errorf("shmdt: %w", err)
	}
	return nil
}
