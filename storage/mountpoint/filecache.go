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
// name, as nginx's open_file_cache does, so that a hot file costs a statx instead of an
// openat2, fstat, fcntl and close (measured: 7–19 µs of 45–63 per 70 KiB answer), and on
// NFSv4 one GETATTR instead of OPEN and CLOSE calls.
//
// A descriptor is reused only while the name still leads to the same file: statx of the name
// (from the root descriptor) must report the inode, device, size, mtime and ctime recorded when
// it was opened, and at least one link, so a file replaced (eZ writes a new file and renames
// it over the old one), rewritten, truncated or deleted is opened afresh. statx is asked with AT_STATX_FORCE_SYNC,
// which makes NFS fetch the attributes from the server instead of its attribute cache (a file
// deleted or replaced by another node then answers ESTALE or new attributes); local file
// systems answer as for fstatat. The descriptor itself was opened beneath the root; statx only
// has to name the same inode, so a symlink on the way cannot lead anywhere new. And a
// descriptor is reused for at most maxAge after its open, which bounds what NFS's cached name
// lookups could still hide (an open revalidates them; a stat may not).
//
// Each descriptor serves one request at a time (sendfile moves its offset); idle ones wait in a
// per-name list. Descriptors not reused within maxAge are closed by a sweep every maxAge, so a
// deleted file's space is given back within twice maxAge.
type fileCache struct {
	maxAge  time.Duration
	maxIdle int // MaxIdleFiles; smaller in tests
	now     func() time.Time

	mu    sync.Mutex
	idle  map[string][]idleFile // by name, most recently returned last
	count int
	stop  chan struct{}
	done  chan struct{}
}

// idleFile is a descriptor waiting for its next request.
type idleFile struct {
	f      *os.File
	id     fileID // the file as opened
	opened time.Time
}

// fileID is what tells one state of a file from another: inode and device, size, and
// modification and change times to the nanosecond.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

// idOfStat is the fileID of an fstat result.
func idOfStat(st *unix.Stat_t) fileID {
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// idOfStatx is the fileID of a statx result.
func idOfStatx(st *unix.Statx_t) fileID {
	return fileID{dev: unix.Mkdev(st.Dev_major, st.Dev_minor), ino: st.Ino, size: int64(st.Size),
		mtime: unix.Timespec{Sec: st.Mtime.Sec, Nsec: int64(st.Mtime.Nsec)},
		ctime: unix.Timespec{Sec: st.Ctime.Sec, Nsec: int64(st.Ctime.Nsec)}}
}

// newFileCache starts a cache reusing descriptors for maxAge, with its sweep.
func newFileCache(maxAge time.Duration) *fileCache {
	c := &fileCache{maxAge: maxAge, maxIdle: MaxIdleFiles, now: time.Now, idle: map[string][]idleFile{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.sweepEvery(maxAge)
	return c
}

// take returns an idle descriptor of name whose file is still the one at the path (id, from
// statx just now; nil when the path names nothing any more), with the time it was opened.
// Idle descriptors of name that are too old or describe another file are closed.
func (c *fileCache) take(name string, id *fileID) (*os.File, time.Time, bool) {
	var stale []*os.File
	defer func() { closeAll(stale) }()
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[name]
	if len(list) == 0 {
		return nil, time.Time{}, false
	}
	fresh := c.now().Add(-c.maxAge)
	for i := len(list) - 1; i >= 0 && id != nil; i-- {
		e := list[i]
		if e.opened.After(fresh) && e.id == *id {
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

// has reports whether a descriptor of name is waiting.
func (c *fileCache) has(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle[name]) > 0
}

// put keeps f (opened at opened, as id) for the next request of name, or closes it when it is
// too old to be reused or the cache is full.
func (c *fileCache) put(name string, f *os.File, id fileID, opened time.Time) error {
	c.mu.Lock()
	if c.count < c.maxIdle && c.now().Sub(opened) < c.maxAge && c.idle != nil {
		c.idle[name] = append(c.idle[name], idleFile{f: f, id: id, opened: opened})
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
