<?php /* #?ini charset="utf-8"?

[BackendSettings]
AccessKeyID=AKIAEZEXAMPLE
SecretAccessKey=ez-aws-s3cr3t
Bucket=ez-bucket
Region=eu-west-1
*/ ?>
