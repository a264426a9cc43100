package mountpoint

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

const sendfileSize = 4 << 20

// serveRanges returns a handler that streams name from m the way httpserve does: headers
// (with Content-Length, so net/http does not chunk) first, then io.Copy of Range's reader.
// It reports the reader's dynamic types through readerType.
func serveRanges(m *MountPoint, name string, readerType func(string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		obj, err := m.Open(r.Context(), name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer obj.Close()
		rd, err := obj.Range(r.Context(), 0, obj.Size())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if lr, ok := rd.(*io.LimitedReader); ok {
			readerType(fmt.Sprintf("%T/%T", lr, lr.R))
		} else {
			readerType(fmt.Sprintf("%T", rd))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(obj.Size(), 10))
		w.WriteHeader(http.StatusOK)
		io.Copy(w, rd)
	}
}

// TestSendfileReader serves a 4 MiB file through net/http and checks the bytes and that the
// reader handed to io.Copy is the one net/http turns into sendfile: *io.LimitedReader over
// *os.File (net.sendFile's test, see net/sendfile.go).
func TestSendfileReader(t *testing.T) {
	root := t.TempDir()
	data := storagetest.Data(4, sendfileSize)
	writeFile(t, filepath.Join(root, "big.bin"), data)
	m := newMP(t, root, false)

	var typ string
	ts := httptest.NewServer(serveRanges(m, "big.bin", func(s string) { typ = s }))
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, content differs from the %d stored", len(got), len(data))
	}
	if want := "*io.LimitedReader/*os.File"; typ != want {
		t.Fatalf("reader type %s, want %s", typ, want)
	}
}

// TestSendfileSyscall proves the kernel's sendfile is really used: the test binary re-runs
// itself under `strace -f -e trace=sendfile` as a server child and the trace must show a
// sendfile call moving file bytes to the socket. Opt in with EZDFSD_STRACE_TESTS=1 (needs strace
// and ptrace permission).
func TestSendfileSyscall(t *testing.T) {
	if os.Getenv("EZDFSD_SENDFILE_CHILD") != "" {
		sendfileChild(t)
		return
	}
	if os.Getenv("EZDFSD_STRACE_TESTS") != "1" {
		t.Skip("set EZDFSD_STRACE_TESTS=1 to trace sendfile with strace")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("EZDFSD_STRACE_TESTS=1 but strace is missing: %v", err)
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=sendfile", "-o", trace,
		os.Args[0], "-test.run=^TestSendfileSyscall$", "-test.v")
	cmd.Env = append(os.Environ(), "EZDFSD_SENDFILE_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child under strace: %v\n%s", err, out)
	}
	tr, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// e.g. "1234 sendfile(11, 12, NULL, 4193792)   = 3969536" (net/http may write the first
	// few hundred bytes through its buffer before handing the rest to sendfile).
	re := regexp.MustCompile(`sendfile\(\d+, \d+, [^,]+, \d+\)\s*=\s*(\d+)`)
	var total int64
	for _, m := range re.FindAllSubmatch(tr, -1) {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		total += n
	}
	if total < sendfileSize-64<<10 {
		t.Fatalf("sendfile moved %d bytes, want %d; trace:\n%s\nchild output:\n%s", total, sendfileSize, tr, out)
	}
	t.Logf("sendfile moved %d bytes", total)
}

func sendfileChild(t *testing.T) {
	dir := os.Getenv("EZDFSD_SENDFILE_CHILD")
	data := storagetest.Data(5, sendfileSize)
	writeFile(t, filepath.Join(dir, "root/big.bin"), data)
	m := newMP(t, filepath.Join(dir, "root"), false)
	ts := httptest.NewServer(serveRanges(m, "big.bin", func(string) {}))
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, content differs", len(got))
	}
}
