/* Streaming extraction of one image layer (a tar, compressed with gzip or
 * zstd, or not) into a new directory, computing its diff_id (sha256 of the
 * uncompressed tar) and the digest of the compressed input on the way. No
 * temporary tarball: a libarchive reader in "raw" format decompresses the
 * input; its output is hashed and handed, through a read callback, to a
 * second libarchive reader in tar format; entries are written to disk by us.
 *
 * What is kept: regular files (sparse ones too), directories, symlinks,
 * hardlinks within the layer, character and block devices, fifos; uid/gid as
 * in the tar; mode bits including setuid/setgid/sticky; xattrs (including
 * security.capability; those the filesystem refuses are skipped with a debug
 * log; trusted.overlay.* and user.overlay.* from the tar are never applied);
 * access and modification times (directories' last, after their content).
 * Sockets are skipped.
 *
 * Whiteouts become overlay whiteouts: ".wh.NAME" -> a 0/0 character device
 * NAME; ".wh..wh..opq" -> xattr trusted.overlay.opaque=y on its directory;
 * other ".wh..wh." names (aufs metadata) are skipped. No ".wh." file is ever
 * written.
 *
 * Safety: nothing is written outside dir. Entries are refused, failing the
 * whole layer with INVALID_ARGUMENT naming the entry, when their path is
 * absolute, has a ".." component, passes through a symlink (even one that
 * stays inside the layer: the tar is applied literally), goes through a
 * non-directory, names a whiteout in a directory component or whiteouts "",
 * "." or ".."; hardlinks are refused when their target is outside the layer,
 * through a symlink, missing or a directory. Components are limited to
 * NAME_MAX bytes and paths and link targets to PATH_MAX. Every file is
 * created relative to a directory descriptor obtained with openat2(2)
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV), or by an O_NOFOLLOW walk where openat2 is missing, and
 * final components are never followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
 * *at creation calls).
 *
 * Why not archive_write_disk: it resolves paths against the process's current
 * directory, which every thread shares (layers are extracted in parallel),
 * and its symlink checks are lstat walks; descriptors make the checks the
 * kernel's. libarchive still does all the decompression and tar parsing.
 *
 * Integrity: libarchive 3.6 does not check gzip's CRC-32 trailer, so
 * corruption is caught by the digests: the diff_id (which the layer store
 * always checks) and the blob digest when given.
 *
 * Errors: a refused entry is INVALID_ARGUMENT; a corrupt or truncated stream
 * and any digest or size mismatch are DATA_LOSS; the source's own error (a
 * cancelled download) is passed on; disk full is RESOURCE_EXHAUSTED. On any
 * failure dir is removed with all it holds. */
#ifndef OCID_STORE_LAYER_EXTRACT_H
#define OCID_STORE_LAYER_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/digest.h"
#include "store/source.h"
#include "util/err.h"

enum extract_compression {
	EXTRACT_DETECT = 0, /* gzip, zstd or none, from the stream's magic */
	EXTRACT_NONE,
	EXTRACT_GZIP,
	EXTRACT_ZSTD,
};

struct layer_extract_opts {
	/* What the media type says; DETECT accepts any of the three. When set,
	 * a stream that is not compressed that way is DATA_LOSS. */
	enum extract_compression compression;
	/* The compressed blob's digest and size (from the manifest), checked
	 * after the whole input is read; NULL / <= 0 to skip. */
	const char *expect_digest;
	int64_t expect_size;
	/* The layer's diff_id (from the image config); NULL to skip. */
	const char *expect_diff_id;
};

struct layer_extract_result {
	char diff_id[DIGEST_MAX_LEN]; /* sha256 of the uncompressed tar */
	char digest[DIGEST_MAX_LEN];  /* of the input, in expect_digest's algorithm (else sha256) */
	uint64_t tar_size;            /* uncompressed bytes */
	uint64_t compressed_size;     /* input bytes */
	uint64_t entries;
	uint64_t disk_bytes;  /* allocated by regular files and directories */
	uint64_t disk_inodes; /* inodes created */
};

/* Extracts the layer read from (read, ctx) into dir, which must not exist
 * (its parent must). opts may be NULL (detect, check nothing). */
int layer_extract(const char *dir, store_read_fn read, void *ctx, const struct layer_extract_opts *opts,
		  struct layer_extract_result *res, ocid_error **err);

/* Same, reading a file descriptor (a pipe from the downloader) to its end. */
int layer_extract_fd(const char *dir, int fd, const struct layer_extract_opts *opts,
		     struct layer_extract_result *res, ocid_error **err);

/* Tests only: resolve paths by the O_NOFOLLOW walk instead of openat2. */
void layer_extract_use_openat2(bool use);

#endif
