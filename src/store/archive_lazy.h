/* libarchive, loaded on first use. The daemon is not linked against
 * libarchive: Debian's build pulls in libxml2, ICU and libstdc++ (about
 * 2 MB of RSS at start-up), and only layer extraction needs it. This header
 * replaces <archive.h> and <archive_entry.h>: it declares a table of the
 * libarchive functions ocid (and its tests) call, typed from libarchive's
 * own prototypes, and maps each name to its entry, so call sites read as
 * plain libarchive calls.
 *
 * archive_lazy_load() must have succeeded before any of them is called; it
 * dlopens libarchive.so.13 once (pthread_once) and resolves the table. */
#ifndef OCID_STORE_ARCHIVE_LAZY_H
#define OCID_STORE_ARCHIVE_LAZY_H

#include <archive.h>
#include <archive_entry.h>

#include "util/err.h"

#define ARCHIVE_LAZY_FUNCS(X) \
	X(archive_read_new) \
	X(archive_read_free) \
	X(archive_read_support_filter_gzip) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_raw) \
	X(archive_read_support_format_tar) \
	X(archive_read_open) \
	X(archive_read_next_header) \
	X(archive_read_data_block) \
	X(archive_filter_code) \
	X(archive_filter_name) \
	X(archive_error_string) \
	X(archive_set_error) \
	X(archive_write_new) \
	X(archive_write_free) \
	X(archive_write_add_filter_gzip) \
	X(archive_write_add_filter_zstd) \
	X(archive_write_set_format_pax) \
	X(archive_write_set_format_raw) \
	X(archive_write_set_bytes_per_block) \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_open) \
	X(archive_write_header) \
	X(archive_write_data) \
	X(archive_write_close) \
	X(archive_entry_new) \
	X(archive_entry_free) \
	X(archive_entry_filetype) \
	X(archive_entry_perm) \
	X(archive_entry_uid) \
	X(archive_entry_gid) \
	X(archive_entry_size) \
	X(archive_entry_size_is_set) \
	X(archive_entry_pathname) \
	X(archive_entry_pathname_utf8) \
	X(archive_entry_hardlink) \
	X(archive_entry_hardlink_utf8) \
	X(archive_entry_symlink) \
	X(archive_entry_symlink_utf8) \
	X(archive_entry_rdevmajor) \
	X(archive_entry_rdevminor) \
	X(archive_entry_atime) \
	X(archive_entry_atime_nsec) \
	X(archive_entry_atime_is_set) \
	X(archive_entry_mtime) \
	X(archive_entry_mtime_nsec) \
	X(archive_entry_mtime_is_set) \
	X(archive_entry_xattr_count) \
	X(archive_entry_xattr_reset) \
	X(archive_entry_xattr_next) \
	X(archive_entry_xattr_add_entry) \
	X(archive_entry_set_filetype) \
	X(archive_entry_set_perm) \
	X(archive_entry_set_uid) \
	X(archive_entry_set_gid) \
	X(archive_entry_set_size) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_pathname) \
	X(archive_entry_set_pathname_utf8) \
	X(archive_entry_set_hardlink_utf8) \
	X(archive_entry_set_symlink_utf8) \
	X(archive_entry_set_rdevmajor) \
	X(archive_entry_set_rdevminor)

struct archive_lazy_table {
#define ARCHIVE_LAZY_MEMBER(name) __typeof__(name) *name;
	ARCHIVE_LAZY_FUNCS(ARCHIVE_LAZY_MEMBER)
#undef ARCHIVE_LAZY_MEMBER
};
extern struct archive_lazy_table archive_lazy;

/* 0 once libarchive is loaded; else -1 with INTERNAL "cannot load
 * libarchive.so.13: <dlerror>", the same every time. */
int archive_lazy_load(ocid_error **err);

#ifndef ARCHIVE_LAZY_IMPL
#define archive_read_new archive_lazy.archive_read_new
#define archive_read_free archive_lazy.archive_read_free
#define archive_read_support_filter_gzip archive_lazy.archive_read_support_filter_gzip
#define archive_read_support_filter_zstd archive_lazy.archive_read_support_filter_zstd
#define archive_read_support_format_raw archive_lazy.archive_read_support_format_raw
#define archive_read_support_format_tar archive_lazy.archive_read_support_format_tar
#define archive_read_open archive_lazy.archive_read_open
#define archive_read_next_header archive_lazy.archive_read_next_header
#define archive_read_data_block archive_lazy.archive_read_data_block
#define archive_filter_code archive_lazy.archive_filter_code
#define archive_filter_name archive_lazy.archive_filter_name
#define archive_error_string archive_lazy.archive_error_string
#define archive_set_error archive_lazy.archive_set_error
#define archive_write_new archive_lazy.archive_write_new
#define archive_write_free archive_lazy.archive_write_free
#define archive_write_add_filter_gzip archive_lazy.archive_write_add_filter_gzip
#define archive_write_add_filter_zstd archive_lazy.archive_write_add_filter_zstd
#define archive_write_set_format_pax archive_lazy.archive_write_set_format_pax
#define archive_write_set_format_raw archive_lazy.archive_write_set_format_raw
#define archive_write_set_bytes_per_block archive_lazy.archive_write_set_bytes_per_block
#define archive_write_set_bytes_in_last_block archive_lazy.archive_write_set_bytes_in_last_block
#define archive_write_open archive_lazy.archive_write_open
#define archive_write_header archive_lazy.archive_write_header
#define archive_write_data archive_lazy.archive_write_data
#define archive_write_close archive_lazy.archive_write_close
#define archive_entry_new archive_lazy.archive_entry_new
#define archive_entry_free archive_lazy.archive_entry_free
#define archive_entry_filetype archive_lazy.archive_entry_filetype
#define archive_entry_perm archive_lazy.archive_entry_perm
#define archive_entry_uid archive_lazy.archive_entry_uid
#define archive_entry_gid archive_lazy.archive_entry_gid
#define archive_entry_size archive_lazy.archive_entry_size
#define archive_entry_size_is_set archive_lazy.archive_entry_size_is_set
#define archive_entry_pathname archive_lazy.archive_entry_pathname
#define archive_entry_pathname_utf8 archive_lazy.archive_entry_pathname_utf8
#define archive_entry_hardlink archive_lazy.archive_entry_hardlink
#define archive_entry_hardlink_utf8 archive_lazy.archive_entry_hardlink_utf8
#define archive_entry_symlink archive_lazy.archive_entry_symlink
#define archive_entry_symlink_utf8 archive_lazy.archive_entry_symlink_utf8
#define archive_entry_rdevmajor archive_lazy.archive_entry_rdevmajor
#define archive_entry_rdevminor archive_lazy.archive_entry_rdevminor
#define archive_entry_atime archive_lazy.archive_entry_atime
#define archive_entry_atime_nsec archive_lazy.archive_entry_atime_nsec
#define archive_entry_atime_is_set archive_lazy.archive_entry_atime_is_set
#define archive_entry_mtime archive_lazy.archive_entry_mtime
#define archive_entry_mtime_nsec archive_lazy.archive_entry_mtime_nsec
#define archive_entry_mtime_is_set archive_lazy.archive_entry_mtime_is_set
#define archive_entry_xattr_count archive_lazy.archive_entry_xattr_count
#define archive_entry_xattr_reset archive_lazy.archive_entry_xattr_reset
#define archive_entry_xattr_next archive_lazy.archive_entry_xattr_next
#define archive_entry_xattr_add_entry archive_lazy.archive_entry_xattr_add_entry
#define archive_entry_set_filetype archive_lazy.archive_entry_set_filetype
#define archive_entry_set_perm archive_lazy.archive_entry_set_perm
#define archive_entry_set_uid archive_lazy.archive_entry_set_uid
#define archive_entry_set_gid archive_lazy.archive_entry_set_gid
#define archive_entry_set_size archive_lazy.archive_entry_set_size
#define archive_entry_set_mtime archive_lazy.archive_entry_set_mtime
#define archive_entry_set_pathname archive_lazy.archive_entry_set_pathname
#define archive_entry_set_pathname_utf8 archive_lazy.archive_entry_set_pathname_utf8
#define archive_entry_set_hardlink_utf8 archive_lazy.archive_entry_set_hardlink_utf8
#define archive_entry_set_symlink_utf8 archive_lazy.archive_entry_set_symlink_utf8
#define archive_entry_set_rdevmajor archive_lazy.archive_entry_set_rdevmajor
#define archive_entry_set_rdevminor archive_lazy.archive_entry_set_rdevminor
#endif

#endif
