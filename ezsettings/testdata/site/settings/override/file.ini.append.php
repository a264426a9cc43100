<?php /* #?ini charset="utf-8"?

[ClusteringSettings]
FileHandler=eZDFSFileHandler

[eZDFSClusteringSettings]
MountPointPath=/mnt/nfs/ezdfs
DBBackend=eZDFSFileHandlerMySQLiBackend
DBHost=db1.internal
DBPort=3307
DBName=ezp_cluster
DBUser=ezp_cluster
DBPassword=p=a;s#s"w'rd\x
MetaDataTableNameCache=ezdfsfile_cache
DFSBackend=eZDFSFileHandlerDFSDispatcher

[DispatchableDFS]
DefaultBackend=eZDFSFileHandlerDFSBackend
PathBackends[]
PathBackends[var/ezdemo_site/storage/images]=eZDFSFileHandlerDFSAmazon
PathBackends[var/ezdemo_site/storage/original]=eZDFSFileHandlerDFSAmazon

[PassThroughSettings]
ContentDisposition[image/jpeg]=attachment
ContentDisposition[video/mp4]=inline
*/ ?>
