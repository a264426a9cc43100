<?php /* #?ini charset="utf-8"?

[ClusteringSettings]
FileHandler=eZDFSFileHandler

[eZDFSClusteringSettings]
# A blank before "=": eZ ignores the line, so the site has no mount point.
MountPointPath = /mnt/ez-nfs
*/ ?>
