package integration

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestPathBackendsOrderAcrossSettingsFiles serves, with the real daemon against MariaDB, a
// mount point and versitygw, an eZ root whose [DispatchableDFS] PathBackends come from the base
// settings/file.ini and from settings/override/file.ini.append.php. Two images have rows in
// ezdfsfile, but their bytes are in one place only: inBucket only in the bucket, onMount only
// on the mount point. A 200 with the right bytes for both therefore proves which backend each
// name was dispatched to, and so the INI semantics: the override's elements come AFTER the
// base's (the first matching key wins), and a bare "PathBackends[]" in the override drops the
// base's rules.
func TestPathBackendsOrderAcrossSettingsFiles(t *testing.T) {
	srv := testenv.S3Server(t)
	dsn := testenv.MySQLDatabase(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "ezdfsd-pb-")
	store := testkit.MySQLStore(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	images := site + "storage/images/"
	inBucket := images + "s3only/10-1-eng-GB/in-bucket.png"
	onMount := images + "nfsonly/11-1-eng-GB/on-mount.png"
	bucketData, mountData := pngImage(t, 40, 30), pngImage(t, 30, 40)
	if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(inBucket),
		Body: bytes.NewReader(bucketData), ContentType: aws.String("image/png")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	const (
		nfs = "eZDFSFileHandlerDFSBackend"
		s3  = "eZDFSFileHandlerDFSAmazon"
	)
	tests := []struct {
		name, base, override string
		rules                []dfs.Rule // what the daemon must have read, in order
	}{
		{
			// Base first: in-bucket.png matches the base's s3only key before the override's
			// broader key; on-mount.png matches only the override's key.
			name:     "override appends after the base",
			base:     "PathBackends[" + images + "s3only]=" + s3 + "\n",
			override: "DefaultBackend=" + s3 + "\nPathBackends[" + images + "]=" + nfs + "\n",
			rules:    []dfs.Rule{{Key: images + "s3only", Backend: dfs.S3Backend}, {Key: images, Backend: dfs.MountPointBackend}},
		},
		{
			// Without the reset the base's key would send in-bucket.png to the mount point.
			name:     "PathBackends[] in the override drops the base's rules",
			base:     "PathBackends[" + images + "]=" + nfs + "\n",
			override: "DefaultBackend=" + nfs + "\nPathBackends[]\nPathBackends[s3only]=" + s3 + "\n",
			rules:    []dfs.Rule{{Key: "s3only", Backend: dfs.S3Backend}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newEZRoot(t, splitDSN(t, dsn), dfs.DispatcherBackend, "[DispatchableDFS]\n"+tt.override)
			root.write(t, "settings/file.ini", "#?ini charset=\"utf-8\"?\n# eZ Publish base settings (excerpt)\n\n"+
				"[ClusteringSettings]\nFileHandler=ezfs\n\n"+
				"[DispatchableDFS]\nDefaultBackend=eZDFSFileHandlerDFSBackend\n"+tt.base)
			root.write(t, "settings/override/dfsamazons3.ini.append.php", "<?php /* #?ini charset=\"utf-8\"?\n\n"+
				"[BackendSettings]\nAccessKeyID="+srv.AccessKey+"\nSecretAccessKey="+srv.SecretKey+"\n"+
				"Bucket="+bucket+"\nRegion=us-east-1\n\n*/ ?>\n")
			for name, data := range map[string][]byte{inBucket: bucketData, onMount: mountData} {
				f := metadata.File{Name: name, Datatype: "image/png", Scope: "image", Size: int64(len(data)), MTime: mtime}
				if name == onMount {
					put(t, store, root.Mount, f, data)
				} else {
					put(t, store, root.Mount, f, nil)
				}
			}

			d := testkit.StartDaemon(t, []string{"--ez-root", root.Dir, "--listen", "127.0.0.1:0", "--metrics-listen", "",
				"--missing-retries", "0", "--shutdown-timeout", "2s"},
				[]string{"EZDFSD_S3_ENDPOINT=" + srv.Endpoint, "EZDFSD_S3_PATH_STYLE=true"})
			if got := d.Cfg.Dispatch(); !equalRules(got.Rules, tt.rules) {
				t.Errorf("rules read from the eZ root: %+v, want %+v", got.Rules, tt.rules)
			}
			client := newClient(t, 2)
			for name, want := range map[string][]byte{inBucket: bucketData, onMount: mountData} {
				r := do(t, client, d.URL, "GET", "/"+name)
				if r.Code != 200 || !bytes.Equal(r.Body, want) {
					t.Errorf("GET %s: %d, %d bytes; want 200 with its %d bytes (dispatched to the wrong backend?)",
						name, r.Code, len(r.Body), len(want))
				}
			}
		})
	}
}

func equalRules(a, b []dfs.Rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
