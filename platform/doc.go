// Package platform reads an eZ Platform / Ibexa DXP Symfony project root for the settings
// ezdfsd needs to serve its DFS cluster: the dotenv files in Symfony's order
// (DFS_DATABASE_URL, DFS_NFS_PATH), the Doctrine database URL, and the installed kernel
// version from composer.lock (which decides the metadata table name). It reads files only;
// the real environment is passed in by the caller.
package platform
