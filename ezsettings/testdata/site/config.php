<?php
/**
 * config.php: eZ Publish legacy low-level settings (copied from config.php-RECOMMENDED
 * and edited for the cluster).
 */

// Timezone used by the gateway (index_cluster.php does not need eZINI).
date_default_timezone_set( 'Europe/Oslo' );

/*
    CLUSTER SETTINGS
    ----------------
    index_cluster.php reads these constants; eZ's kernel reads file.ini instead.
*/
define( 'CLUSTER_STORAGE_BACKEND', 'dfsmysqli' );
define( 'CLUSTER_STORAGE_HOST', 'db1.internal' );
define( 'CLUSTER_STORAGE_PORT', 3307 );
define( 'CLUSTER_STORAGE_USER', 'ezp_cluster' );
define( 'CLUSTER_STORAGE_PASS', 'p=a;s#s"w\'rd\\x' ); // ; and # are part of the password
define( 'CLUSTER_STORAGE_DB', 'ezp_cluster' );
define( 'CLUSTER_STORAGE_CHARSET', 'utf8' );
define( 'CLUSTER_MOUNT_POINT_PATH', '/mnt/nfs/ezdfs' );

# HTTP behaviour of the gateway
define( "CLUSTER_ENABLE_HTTP_RANGE", TRUE ); define( "CLUSTER_ENABLE_HTTP_CACHE", true );
define( 'CLUSTER_EXPIRY_TIMEOUT', 60 * 60 ); // not a literal: ezdfsd cannot evaluate this
define( 'CLUSTER_HEADER_X_POWERED_BY', false );
define('CLUSTER_METADATA_TABLE_CACHE', 'ezdfsfile_cache');

if ( !defined( 'CLUSTER_ENABLE_DEBUG' ) )
    define( 'CLUSTER_ENABLE_DEBUG', False );

ini_set( 'memory_limit', '256M' );
// define( 'CLUSTER_PERSISTENT_CONNECTION', true );   commented out
?>
