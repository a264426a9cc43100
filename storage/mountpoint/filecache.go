package mountpoint

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MaxIdleFiles bounds the descriptors an open-file cache keeps between requests, over all
// names. A hot file served to many clients at once has one descriptor per concurrent request.
const MaxIdleFiles = 1024

// fileCache keeps the descriptors of files just served open for the next request of the same
// name, as nginx's open_file_cache does, so that a hot file costs an fstatat instead of an
// openat2, fstat, fcntl and close (measured: 7–19 µs of 45–63 per 70 KiB answer).
//
// A descriptor is reused only while the name still leads to the same file: fstatat of the name
// (from the root descriptor) must report the inode, device, size, mtime and ctime recorded when
// it was opened, so a file replaced (eZ writes a new file and renames it over the old one),
// rewritten, truncated or deleted is opened afresh. The descriptor itself was opened beneath
// the root; fstatat only has to name the same inode, so a symlink on the way cannot lead
// anywhere new. And a descriptor is reused for at most maxAge after its open: on NFS, stat
// answers may come from the attribute cache where an open revalidates, so maxAge bounds how long
// a file replaced on another node can still be served from before the change (the metadata
// cache's TTL bounds the rows the same way).
//
// Each descriptor serves one request at a time (sendfile moves its offset); idle ones wait in a
// per-name list. Descriptors not reused within maxAge are closed by a sweep every maxAge, so a
// deleted file's space is given back.
type fileCache struct {
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	idle  map[string][]idleFile // by name, most recently returned last
	count int
	stop  chan struct{}
	done  chan struct{}
}

// idleFile is a descriptor waiting for its next request.
type idleFile struct {
	f      *os.File
	st     unix.Stat_t // at open
	opened time.Time
}

// newFileCache starts a cache reusing descriptors for maxAge, with its sweep.
func newFileCache(maxAge time.Duration) *fileCache {
	c := &fileCache{maxAge: maxAge, now: time.Now, idle: map[string][]idleFile{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.sweepEvery(maxAge)
	return c
}

// take returns an idle descriptor of name whose file is still the one at the path (st, from
// fstatat just now; nil when the path names nothing any more), with the time it was opened.
// Idle descriptors of name that are too old or describe another file are closed.
func (c *fileCache) take(name string, st *unix.Stat_t) (*os.File, time.Time, bool) {
	var stale []*os.File
	defer func() { closeAll(stale) }()
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[name]
	if len(list) == 0 {
		return nil, time.Time{}, false
	}
	fresh := c.now().Add(-c.maxAge)
	for i := len(list) - 1; i >= 0 && st != nil; i-- {
		e := list[i]
		if e.opened.After(fresh) && sameFile(&e.st, st) {
			list = append(list[:i], list[i+1:]...)
			c.count--
			c.setList(name, list)
			return e.f, e.opened, true
		}
	}
	// None fits: the file changed or they are too old; none will fit later either.
	for _, e := range list {
		stale = append(stale, e.f)
	}
	c.count -= len(list)
	delete(c.idle, name)
	return nil, time.Time{}, false
}

// put keeps f (opened at opened, describing st) for the next request of name, or closes it when
// it is too old to be reused or the cache is full.
func (c *fileCache) put(name string, f *os.File, st unix.Stat_t, opened time.Time) error {
	c.mu.Lock()
	if c.count < MaxIdleFiles && c.now().Sub(opened) < c.maxAge && c.idle != nil {
		c.idle[name] = append(c.idle[name], idleFile{f: f, st: st, opened: opened})
		c.count++
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return f.Close()
}

func (c *fileCache) setList(name string, list []idleFile) {
	if len(list) == 0 {
		delete(c.idle, name)
		return
	}
	c.idle[name] = list
}

// sweepEvery closes descriptors too old to be reused, every d, until close.
func (c *fileCache) sweepEvery(d time.Duration) {
	defer close(c.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// sweep closes the idle descriptors opened maxAge ago or earlier.
func (c *fileCache) sweep() {
	var old []*os.File
	c.mu.Lock()
	fresh := c.now().Add(-c.maxAge)
	for name, list := range c.idle {
		kept := list[:0]
		for _, e := range list {
			if e.opened.After(fresh) {
				kept = append(kept, e)
			} else {
				old = append(old, e.f)
			}
		}
		c.count -= len(list) - len(kept)
		c.setList(name, kept)
	}
	c.mu.Unlock()
	closeAll(old)
}

// close stops the sweep and closes every idle descriptor; later puts close theirs.
func (c *fileCache) close() {
	close(c.stop)
	<-c.done
	var all []*os.File
	c.mu.Lock()
	for _, list := range c.idle {
		for _, e := range list {
			all = append(all, e.f)
		}
	}
	c.idle, c.count = nil, 0
	c.mu.Unlock()
	closeAll(all)
}

// idleCount is the number of descriptors waiting (for tests and metrics).
func (c *fileCache) idleCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// sameFile reports whether two stat results describe the same file in the same state: inode
// and device, size, and modification and change times to the nanosecond.
func sameFile(a, b *unix.Stat_t) bool {
	return a.Ino == b.Ino && a.Dev == b.Dev && a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim
}
