package sqlstore_test

import (
	"fmt"

	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// The schema text is eZ Publish legacy's kernel/sql/mysql/cluster_dfs_schema.sql, with
// IF NOT EXISTS and a quoted table name.
func ExampleMySQLSchema() {
	fmt.Print(sqlstore.MySQLSchema("ezdfsfile_cache", true))
	// Output:
	// CREATE TABLE IF NOT EXISTS `ezdfsfile_cache` (
	//   `name` text NOT NULL,
	//   name_trunk text NOT NULL,
	//   name_hash varchar(34) NOT NULL DEFAULT '',
	//   datatype varchar(255) NOT NULL DEFAULT 'application/octet-stream',
	//   scope varchar(25) NOT NULL DEFAULT '',
	//   size bigint(20) unsigned NOT NULL DEFAULT '0',
	//   mtime int(11) NOT NULL DEFAULT '0',
	//   expired tinyint(1) NOT NULL DEFAULT '0',
	//   PRIMARY KEY (name_hash),
	//   KEY ezdfsfile_name (`name`(250)),
	//   KEY ezdfsfile_name_trunk (name_trunk(250)),
	//   KEY ezdfsfile_mtime (mtime),
	//   KEY ezdfsfile_expired_name (expired,`name`(250))
	// ) ENGINE=InnoDB;
}
