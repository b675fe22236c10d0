package blob

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// oTmpfile is open(2)'s O_TMPFILE: __O_TMPFILE of asm-generic/fcntl.h,
// which every architecture Go runs Linux on uses, with O_DIRECTORY.
const oTmpfile = 0o20000000 | syscall.O_DIRECTORY

// atSymlinkFollow is linkat(2)'s AT_SYMLINK_FOLLOW.
const atSymlinkFollow = 0x400

// openAnon creates a file without a name in directory dir, for writing,
// read-only for anyone who opens it later (open(2) with O_TMPFILE): it is
// named by linkAnon, and is gone when closed if it was not.
func openAnon(dir string) (*os.File, error) {
	fd, err := ignoringEINTR(func() (int, error) {
		return syscall.Open(dir, oTmpfile|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o400)
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// linkAnon names f, a file of openAnon, final (linkat(2) of its
// /proc/self/fd link: linking a descriptor itself, AT_EMPTY_PATH, needs
// CAP_DAC_READ_SEARCH). An existing final is fs.ErrExist.
func linkAnon(f *os.File, final string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		lerr = linkat("/proc/self/fd/"+strconv.Itoa(int(fd)), final)
	})
	if err != nil {
		return err
	}
	if lerr != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name(), New: final, Err: lerr}
	}
	return nil
}

func linkat(old, new string) error {
	op, err := syscall.BytePtrFromString(old)
	if err != nil {
		return err
	}
	np, err := syscall.BytePtrFromString(new)
	if err != nil {
		return err
	}
	cwd := atFDCWD // a variable: its conversion to uintptr sign-extends
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(cwd), uintptr(unsafe.Pointer(op)),
			uintptr(cwd), uintptr(unsafe.Pointer(np)), atSymlinkFollow, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return e
	}
}

// atFDCWD is AT_FDCWD.
const atFDCWD int = -0x64

// canLinkAnon reports whether files made by openAnon in dir can be
// named by linkAnon (a file system without O_TMPFILE, or no /proc, say
// no), trying it once.
func canLinkAnon(dir string) bool {
	f, err := openAnon(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Write([]byte("probe")); err != nil {
		return false
	}
	name := filepath.Join(dir, fmt.Sprintf("probe-%d", os.Getpid()))
	os.Remove(name)
	if err := linkAnon(f, name); err != nil {
		return false
	}
	b, err := os.ReadFile(name)
	os.Remove(name)
	return err == nil && string(b) == "probe"
}

// syncData is fdatasync(2) of f.
func syncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		_, serr = ignoringEINTR(func() (int, error) { return 0, syscall.Fdatasync(int(fd)) })
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// deviceOf returns the device of dir's file system as the kernel names
// it in /proc/self/mountinfo and /sys/dev/block: "MAJOR:MINOR".
func deviceOf(dir string) (string, bool) {
	var st syscall.Stat_t
	if syscall.Stat(dir, &st) != nil {
		return "", false
	}
	major := (st.Dev>>8)&0xfff | (st.Dev>>32)&^0xfff
	minor := st.Dev&0xff | (st.Dev>>12)&^0xff
	return fmt.Sprintf("%d:%d", major, minor), true
}

// ext4Magic is EXT4_SUPER_MAGIC (also ext2's and ext3's), statfs(2).
const ext4Magic = 0xef53

// syncsParent reports whether dir is on ext4, whose fsync(2) of a file
// just linked into a directory writes that directory's entry too (see
// commitStaged): its statfs(2) type, and /proc/self/mountinfo's file
// system type for its device (ext2 and ext3 share the magic number).
func syncsParent(dir string) bool {
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) != nil || fs.Type != ext4Magic {
		return false
	}
	dev, ok := deviceOf(dir)
	if !ok {
		return false
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	found := false
	for line := range strings.Lines(string(data)) {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 3 || f[2] != dev || sep < 0 || sep+1 >= len(f) {
			continue
		}
		if f[sep+1] != "ext4" {
			return false
		}
		found = true
	}
	return found
}
