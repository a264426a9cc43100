<?php
// The database is defined; the mount point is meant to come from file.ini.
define( 'CLUSTER_STORAGE_HOST', 'db.internal' );
define( 'CLUSTER_STORAGE_USER', 'ezp' );
define( 'CLUSTER_STORAGE_PASS', 'ez-s3cr3t' );
define( 'CLUSTER_STORAGE_DB', 'ezp_cluster' );
