<?php
// eZ Publish legacy config.php (cluster part)
define( 'CLUSTER_STORAGE_BACKEND', 'dfsmysqli' );
define( 'CLUSTER_STORAGE_HOST', 'ez-host' );
define( 'CLUSTER_STORAGE_PORT', 3306 );
define( 'CLUSTER_STORAGE_USER', 'ezp' );
define( 'CLUSTER_STORAGE_PASS', 'ez-s3cr3t=;#"\'' );
define( 'CLUSTER_STORAGE_DB', 'ezp_cluster' );
define( 'CLUSTER_STORAGE_CHARSET', 'utf8' );
define( 'CLUSTER_MOUNT_POINT_PATH', '/mnt/ez-nfs' );
define( 'CLUSTER_ENABLE_HTTP_RANGE', false );
define( 'CLUSTER_EXPIRY_TIMEOUT', false );
define( 'CLUSTER_HEADER_X_POWERED_BY', false );
