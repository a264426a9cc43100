<?php
// A config.php without the cluster defines (e.g. the wrong directory given as --ez-root).
define( 'EZP_USE_BUNDLED_COMPONENTS', true );
