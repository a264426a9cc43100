package integration

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

// pngImage encodes a w×h PNG of deterministic noise (so it does not compress to nothing).
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	x := uint32(2463534242)
	next := func() uint8 { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return uint8(x) }
	for py := range h {
		for px := range w {
			m.Set(px, py, color.NRGBA{next(), next(), next(), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// comparable returns the parts of a response that must not depend on the backend: status,
// headers except the per-response ones, and the body (multipart bodies as their parts, since
// the boundary is random).
func comparable(t *testing.T, r response) (int, map[string][]string, []part, []byte) {
	t.Helper()
	h := map[string][]string{}
	var parts []part
	body := r.Body
	for k, v := range r.Header {
		switch k {
		case "Date", "Expires", "X-Request-Id":
			continue
		case "Content-Type":
			if strings.HasPrefix(v[0], "multipart/byteranges;") {
				parts, body = multipartParts(t, r), nil
				h[k] = []string{"multipart/byteranges"}
				continue
			}
		}
		h[k] = v
	}
	if _, ok := r.Header["Expires"]; !ok && r.Code < 400 {
		t.Errorf("no Expires header")
	}
	return r.Code, h, parts, body
}

// TestMixedDispatchS3 is issue 3's "done when": an eZ root whose file.ini dispatches
// var/ezdemo_site/storage/images to eZDFSFileHandlerDFSAmazon (with dfsamazons3.ini naming the
// bucket and keys) serves images from the bucket and everything else from the mount point,
// with identical HTTP answers either way. It also covers an object missing from the bucket,
// an unreachable bucket and wrong credentials.
func TestMixedDispatchS3(t *testing.T) {
	srv := testenv.S3Server(t)
	dsn := testenv.MySQLDatabase(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "ezdfsd-it-")
	ctx := context.Background()

	root := newEZRoot(t, splitDSN(t, dsn), dfs.DispatcherBackend,
		"[DispatchableDFS]\nDefaultBackend=eZDFSFileHandlerDFSBackend\n"+
			"PathBackends[var/ezdemo_site/storage/images]=eZDFSFileHandlerDFSAmazon\n")
	root.write(t, "settings/override/dfsamazons3.ini.append.php", "<?php /* #?ini charset=\"utf-8\"?\n\n"+
		"[BackendSettings]\nAccessKeyID="+srv.AccessKey+"\nSecretAccessKey="+srv.SecretKey+"\n"+
		"Bucket="+bucket+"\nRegion=us-east-1\n\n*/ ?>\n")

	// The var/ tree to import: the same PNG as an image (→ S3) and as a cache file (→ NFS).
	pic := pngImage(t, 80, 60)
	imgName := site + "storage/images/media/images/photo/123-1-eng-GB/photo.png"
	cacheName := site + "cache/public/images/photo.png"
	goneName := site + "storage/images/media/images/gone/124-1-eng-GB/gone.png"
	origName := site + "storage/original/application/manual.pdf"
	fileTime := time.Unix(mtime, 0)
	for name, data := range map[string][]byte{imgName: pic, cacheName: pic, goneName: pic, origName: []byte("%PDF-1.4 manual")} {
		p := filepath.Join(root.Dir, filepath.FromSlash(name))
		writeFile(t, p, data)
		if err := os.Chtimes(p, fileTime, fileTime); err != nil {
			t.Fatal(err)
		}
	}
	environ := []string{"EZDFSD_S3_ENDPOINT=" + srv.Endpoint, "EZDFSD_S3_PATH_STYLE=true"}
	args := []string{"--ez-root", root.Dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--shutdown-timeout", "2s"}

	cfg, err := config.Load(args, environ)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Dispatch(); got.BackendFor(imgName) != dfs.S3Backend || got.BackendFor(cacheName) != dfs.MountPointBackend {
		t.Fatalf("dispatch from file.ini: %+v", got)
	}
	rep, err := daemon.Import(ctx, cfg, nil, root.Dir, "var", true)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	t.Logf("import: %s", rep)
	if rep.Imported != 4 || rep.Failed != 0 || rep.ByBackend[dfs.S3Backend] != 2 || rep.ByBackend[dfs.MountPointBackend] != 2 {
		t.Fatalf("import report %s, want 4 imported: 2 to S3, 2 to the mount point", rep)
	}
	if rep, err := daemon.Import(ctx, cfg, nil, root.Dir, "var", false); err != nil || rep.Unchanged != 4 || rep.Imported != 0 {
		t.Fatalf("second import: %s (%v), want 4 unchanged", rep, err)
	}

	t.Run("import placed each file on its backend", func(t *testing.T) {
		for _, name := range []string{imgName, goneName} {
			h, err := admin.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(name)})
			if err != nil {
				t.Fatalf("HeadObject %s: %v", name, err)
			}
			if aws.ToString(h.ContentType) != "image/png" || aws.ToInt64(h.ContentLength) != int64(len(pic)) {
				t.Errorf("%s in the bucket: Content-Type %q, %d bytes; want image/png, %d", name,
					aws.ToString(h.ContentType), aws.ToInt64(h.ContentLength), len(pic))
			}
			if _, err := os.Stat(filepath.Join(root.Mount, filepath.FromSlash(name))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is on the mount point too (%v)", name, err)
			}
		}
		for _, name := range []string{cacheName, origName} {
			if _, err := os.Stat(filepath.Join(root.Mount, filepath.FromSlash(name))); err != nil {
				t.Errorf("%s not on the mount point: %v", name, err)
			}
			_, err := admin.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(name)})
			var nf *types.NotFound
			if !errors.As(err, &nf) {
				t.Errorf("HeadObject %s: %v, want NotFound (it belongs on NFS)", name, err)
			}
		}
	})

	d := testkit.StartDaemon(t, args, environ)
	client := newClient(t, 4)
	reg := d.App.Registry()
	s3Gets := func() float64 {
		return testkit.MetricSum(t, reg, "ezdfsd_s3_requests_total", map[string]string{"op": "get"})
	}

	t.Run("S3 and NFS give identical answers", func(t *testing.T) {
		cases := []struct {
			name    string
			method  string
			headers []string
			code    int
		}{
			{"GET", "GET", nil, 200},
			{"HEAD", "HEAD", nil, 200},
			{"Range 0-99", "GET", []string{"Range", "bytes=0-99"}, 206},
			{"suffix range", "GET", []string{"Range", "bytes=-100"}, 206},
			{"multi-range", "GET", []string{"Range", "bytes=0-1,200-299,-10"}, 206},
			{"If-None-Match", "GET", []string{"If-None-Match", `"1700000000-` + itoa(len(pic)) + `"`}, 304},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				gets0 := s3Gets()
				fromS3 := do(t, client, d.URL, c.method, "/"+imgName, c.headers...)
				gets := s3Gets() - gets0
				fromNFS := do(t, client, d.URL, c.method, "/"+cacheName, c.headers...)
				if fromS3.Code != c.code {
					t.Fatalf("S3: status %d, want %d", fromS3.Code, c.code)
				}
				codeS, hS, partsS, bodyS := comparable(t, fromS3)
				codeN, hN, partsN, bodyN := comparable(t, fromNFS)
				if codeS != codeN {
					t.Errorf("status: S3 %d, NFS %d", codeS, codeN)
				}
				for _, k := range union(hS, hN) {
					if !slices.Equal(hS[k], hN[k]) {
						t.Errorf("%s: S3 %q, NFS %q", k, hS[k], hN[k])
					}
				}
				if !bytes.Equal(bodyS, bodyN) {
					t.Errorf("body: S3 %d bytes, NFS %d bytes, differ", len(bodyS), len(bodyN))
				}
				if !slices.EqualFunc(partsS, partsN, func(a, b part) bool {
					return a.contentType == b.contentType && a.contentRange == b.contentRange && bytes.Equal(a.body, b.body)
				}) {
					t.Errorf("multipart parts differ: S3 %d parts, NFS %d parts", len(partsS), len(partsN))
				}
				switch {
				case c.code == 200 && c.method == "GET" && !bytes.Equal(bodyS, pic):
					t.Errorf("GET body is not the imported PNG")
				case c.method == "HEAD" || c.code == 304:
					if gets != 0 {
						t.Errorf("%s made %v S3 GETs, want 0 (answered from metadata)", c.name, gets)
					}
				default:
					if gets < 1 {
						t.Errorf("%s: no S3 GET counted: was the image served from S3?", c.name)
					}
				}
			})
		}
	})

	t.Run("object missing from the bucket", func(t *testing.T) {
		if _, err := admin.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(goneName)}); err != nil {
			t.Fatal(err)
		}
		before := testkit.MetricSum(t, reg, "ezdfsd_s3_errors_total", map[string]string{"kind": "no_such_key"})
		r := do(t, client, d.URL, "GET", "/"+goneName)
		if r.Code != 404 || !bytes.Equal(r.Body, page404(goneName)) {
			t.Errorf("row without object: %d %.100q, want the legacy 404", r.Code, r.Body)
		}
		if got := testkit.MetricSum(t, reg, "ezdfsd_s3_errors_total", map[string]string{"kind": "no_such_key"}) - before; got < 1 {
			t.Errorf("ezdfsd_s3_errors_total{kind=no_such_key} +%v, want ≥ 1", got)
		}
	})

	t.Run("bucket unreachable", func(t *testing.T) {
		proxy := testkit.StartProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"))
		p := testkit.StartDaemon(t, args, []string{"EZDFSD_S3_ENDPOINT=http://" + proxy.Addr(), "EZDFSD_S3_PATH_STYLE=true"})
		if r := do(t, client, p.URL, "GET", "/"+imgName); r.Code != 200 || !bytes.Equal(r.Body, pic) {
			t.Fatalf("through the proxy: %d", r.Code)
		}
		setMode(t, proxy, faultproxy.Refuse)
		r := do(t, client, p.URL, "GET", "/"+imgName)
		t.Logf("bucket unreachable: %d Retry-After %q after %v", r.Code, r.Header.Get("Retry-After"), r.Elapsed.Round(time.Millisecond))
		if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("bucket unreachable: %d Retry-After %q, want 503 with Retry-After", r.Code, r.Header.Get("Retry-After"))
		}
		if r := do(t, client, p.URL, "GET", "/"+cacheName); r.Code != 200 {
			t.Errorf("NFS file while S3 is down: %d, want 200", r.Code)
		}
		setMode(t, proxy, faultproxy.Pass)
		if r := do(t, client, p.URL, "GET", "/"+imgName); r.Code != 200 {
			t.Errorf("after the bucket came back: %d, want 200", r.Code)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		w := testkit.StartDaemon(t, args, append(slices.Clone(environ), "EZDFSD_S3_SECRET_ACCESS_KEY=not-the-secret"))
		r := do(t, client, w.URL, "GET", "/"+imgName)
		if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("wrong secret: %d Retry-After %q, want 503 with Retry-After", r.Code, r.Header.Get("Retry-After"))
		}
		logs := w.Logs.String()
		if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "access_denied") {
			t.Errorf("wrong credentials not logged at ERROR with kind access_denied:\n%s", testkit.Tail(logs, 3000))
		}
		if strings.Contains(logs, "not-the-secret") || strings.Contains(logs, srv.SecretKey) {
			t.Error("a secret key appears in the logs")
		}
	})
}

func union(a, b map[string][]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func itoa(n int) string { return strconv.Itoa(n) }
