<?php /* #?ini charset="utf-8"?

[FileSettings]
CacheDir=cache
*/ ?>
