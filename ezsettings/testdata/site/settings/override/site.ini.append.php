<?php /* #?ini charset="utf-8"?

[ExtensionSettings]
ActiveExtensions[]
ActiveExtensions[]=ezdfs-fsbackend-dispatcher
ActiveExtensions[]=ezdfs-fsbackend-aws-s3
ActiveExtensions[]=ezjscore

[FileSettings]
VarDir=var/ezdemo_site

[SiteSettings]
DefaultAccess=eng
SiteList[]=eng
SiteList[]=ezdemo_site_admin
*/ ?>
