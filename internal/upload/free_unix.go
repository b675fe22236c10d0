//go:build unix

package upload

import "syscall"

// diskFree returns the bytes an unprivileged user may still write on the
// file system of dir (statfs(2) f_bavail).
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
