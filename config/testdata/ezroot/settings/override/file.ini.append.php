<?php /* #?ini charset="utf-8"?

[ClusteringSettings]
FileHandler=eZDFSFileHandler

[eZDFSClusteringSettings]
MountPointPath=/mnt/ini-nfs
DBHost=ini-host
DBName=ezp_cluster
DBUser=ezp
DBPassword=ini-s3cr3t
DFSBackend=eZDFSFileHandlerDFSDispatcher

[DispatchableDFS]
DefaultBackend=eZDFSFileHandlerDFSBackend
PathBackends[]
PathBackends[var/ezdemo_site/storage/images]=eZDFSFileHandlerDFSAmazon
*/ ?>
