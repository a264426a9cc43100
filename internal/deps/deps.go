// Package deps pins the modules the packages under construction will import; removed once they do.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/bradfitz/gomemcache/memcache"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/hashicorp/golang-lru/v2/expirable"
	_ "github.com/johannesboyne/gofakes3"
	_ "github.com/johannesboyne/gofakes3/backend/s3mem"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/sys/unix"
	_ "modernc.org/sqlite"
)
