// Package osfile gives every system Unix's rules for open files: a file
// may be renamed or removed while it is open, and a scratch file can have
// no name at all. On Windows, os.Open denies others the right to rename or
// delete the file while it is open, and an open file cannot be removed.
package osfile
