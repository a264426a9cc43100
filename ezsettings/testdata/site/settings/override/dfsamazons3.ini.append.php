<?php /* #?ini charset="utf-8"?

[BackendSettings]
AccessKeyID=AKIAEXAMPLEEXAMPLE12
SecretAccessKey=wJalr/XUtnFEMI=K7MDENG#bPxRfi;CYEXAMPLEKEY
Bucket=ezdemo-images
Region=eu-west-1
*/ ?>
