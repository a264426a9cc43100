package preflight

import (
	"errors"
	"strings"

	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// checkFix returns the operator's hint for a failed readiness check, from the check's name and
// the sentinel its error wraps.
func checkFix(check string, err error) string {
	var se *sqlstore.SchemaError
	switch {
	case errors.As(err, &se) && len(se.Missing) == 0:
		return "create the table: ezdfsd import --create-schema, or check db-name/table/cache-table settings"
	case errors.Is(err, sqlstore.ErrSchema):
		return "point table/cache-table at eZ's DFS tables, or recreate them with eZ's cluster_dfs_schema.sql (ezdfsd import --create-schema on an empty database)"
	case strings.HasPrefix(check, "metadata_"):
		return fixDatabase
	case errors.Is(err, mountpoint.ErrRoot):
		return "mount the share, or fix mount-point (CLUSTER_MOUNT_POINT_PATH / file.ini MountPointPath); it must be a directory the daemon's user can read"
	case check == "mountpoint":
		return "check the NFS mount (server reachable, not stale); restart ezdfsd after remounting"
	case errors.Is(err, s3.ErrNoSuchBucket):
		return "create the bucket, or fix s3-bucket / s3-region / s3-endpoint (dfsamazons3.ini Bucket, Region)"
	case errors.Is(err, s3.ErrAccessDenied):
		return "fix s3-access-key-id / s3-secret-access-key (dfsamazons3.ini, or the AWS credential chain) or the bucket policy"
	case check == "s3":
		return "check s3-endpoint / s3-region and network access to the endpoint"
	case check == "memcached":
		return "check the memcached servers; ezdfsd serves without them, from the database"
	}
	return "see the reason"
}
