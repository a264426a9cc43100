<?php
// config.cluster.php: loaded after config.php; a constant that config.php already defined
// cannot be redefined in PHP, so the first value stays.
define( 'CLUSTER_STORAGE_HOST', 'db2.internal' );
define( 'CLUSTER_PERSISTENT_CONNECTION', null );
const CLUSTER_METADATA_STORAGE_PATH = "/storage/";
