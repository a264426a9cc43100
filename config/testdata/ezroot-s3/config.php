<?php
define( 'CLUSTER_EXPIRY_TIMEOUT', 24 * 3600 );
