<?php /* #?ini charset="utf-8"?
[ClusteringSettings]
FileHandler=eZDFSFileHandler
[eZDFSClusteringSettings]
DBHost=db
DBName=ezp
DFSBackend=eZDFSFileHandlerDFSAmazon
*/ ?>
