<?php /* #?ini charset="utf-8"?
[BackendSettings]
Bucket=only-s3
Region=us-east-1
*/ ?>
