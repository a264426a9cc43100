<?php /* #?ini charset="utf-8"?

[DispatchableDFS]
# Default backend for all paths that don't match a PathBackends entry
DefaultBackend=eZDFSFileHandlerDFSBackend
# PathBackends[var/ezdemo_site/storage/images]=eZDFSFileHandlerDFSAmazon
PathBackends[]
*/ ?>
