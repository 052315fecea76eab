// Package filepages lets the kernel take back the pages a process holds of
// the files it maps read-only: its own executable above all. They are the
// page cache's, and fault back from it when they are used again, so a
// process that read a large part of its binary once (an agent that ran
// its start-up, a client that uploaded the Starlark interpreter embedded
// in it) need not keep them counted in its resident memory.
package filepages

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Drop lets the kernel take back the resident pages of this process's
// executable that are mapped read-only and hold no page of the process's
// own: 12 MB of a Go agent's code and read-only data that start-up and
// executions touched, or the Starlark interpreter a client embeds. Such
// pages are the page cache's, shared with every process that maps the
// file, and fault back from it when they are used again (RATIONALE.md,
// "Why does an idle agent give back its memory?"). A mapping with a
// private copy of a page (relocated data, made read-only after its
// relocation) is left as it is: dropping the copy would bring back the
// file's bytes in its place.
//
// Only the executable: a Go program never unmaps it, while any other
// mapping may be unmapped between the read of the list and the madvise,
// and its addresses handed to new memory, which MADV_DONTNEED would then
// zero (a library user's own mappings, wazero's machine code, which its
// finalizers unmap after a collection).
func Drop() {
	exe, ok := executable()
	if !ok {
		return
	}
	var start, end uint64
	candidate := false
	walkSmaps(func(header []string) {
		start, end, candidate = fileMapping(header, exe)
	}, func(name, value string) {
		if candidate && name == "Anonymous:" {
			if value == "0" {
				unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
			}
			candidate = false
		}
	})
}

// walkSmaps reads /proc/self/smaps, calling header with the fields of each
// mapping's first line (start-end perms offset dev inode [path]) and field
// with the name and value of each line about it ("Rss:", "1234").
func walkSmaps(header func(fields []string), field func(name, value string)) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			header(fields)
		case len(fields) >= 2:
			field(fields[0], fields[1])
		}
	}
}

// file names a file by device and inode, as /proc/self/smaps does.
type file struct {
	dev uint64
	ino uint64
}

// executable returns the file this process runs.
func executable() (file, bool) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return file{}, false
	}
	return file{dev: st.Dev, ino: st.Ino}, true
}

// fileMapping parses the header line of a mapping in /proc/self/smaps
// (start-end perms offset dev inode path) and reports whether it maps
// file want, private and read-only.
func fileMapping(fields []string, want file) (start, end uint64, ok bool) {
	// The path is not read: it may hold spaces, or end in " (deleted)"
	// once the executable was replaced while it runs.
	if len(fields) < 6 || len(fields[1]) != 4 || fields[1][1] != '-' || fields[1][3] != 'p' {
		return 0, 0, false
	}
	major, minor, found := strings.Cut(fields[3], ":")
	if !found {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(major, 16, 32)
	mnr, err2 := strconv.ParseUint(minor, 16, 32)
	ino, err3 := strconv.ParseUint(fields[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || unix.Mkdev(uint32(maj), uint32(mnr)) != want.dev || ino != want.ino {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(fields[0], "-")
	if !found {
		return 0, 0, false
	}
	start, err1 = strconv.ParseUint(lo, 16, 64)
	end, err2 = strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return 0, 0, false
	}
	return start, end, true
}
