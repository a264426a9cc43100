<?php
define( 'CLUSTER_STORAGE_HOST', 'db1' );
define( 'CLUSTER_STORAGE_PASS', 'secret );
