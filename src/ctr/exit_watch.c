#include "ctr/exit_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

struct exit_watch {
	char *exit_dir;
	char *persist_root;
	exit_watch_cb cb;
	void *arg;
	int ifd;  /* inotify */
	int stop; /* eventfd waking the thread */
	pthread_t thread;
	bool running;
};

int exit_file_parse(const char *buf, size_t len, int *code)
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
		len--;
	if (len == 0 || len > 4)
		return -1;
	if (len == 2 && buf[0] == '-' && buf[1] == '1') {
		*code = -1;
		return 0;
	}
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		v = v * 10 + (buf[i] - '0');
	}
	if (v > 255)
		return -1;
	*code = v;
	return 0;
}

/* g_file_set_contents writes "<name>.XXXXXX" and renames it: not an id. */
static bool is_temp_name(const char *name)
{
	size_t n = strlen(name);
	return n > 7 && name[n - 7] == '.';
}

static bool name_ok(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

static int read_exit_at(int dirfd, const char *exit_dir, const char *persist_root, const char *id,
			struct exit_info *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	cleanup_close int fd = openat(dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return err_set(err, GRPC_NOT_FOUND, "no exit file for %s", id);
		return err_set_errno(err, GRPC_INTERNAL, errno, "open exit file %s/%s", exit_dir, id);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat exit file %s/%s", exit_dir, id);
	if (!S_ISREG(st.st_mode))
		return err_set(err, GRPC_INTERNAL, "exit file %s/%s is not a regular file", exit_dir, id);
	char buf[32];
	ssize_t n;
	do {
		n = read(fd, buf, sizeof(buf) - 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "read exit file %s/%s", exit_dir, id);
	if (exit_file_parse(buf, (size_t)n, &out->exit_code) < 0)
		return err_set(err, GRPC_INTERNAL, "exit file %s/%s: bad content", exit_dir, id);
	out->finished = st.st_mtim;
	if (persist_root) {
		cleanup_free char *oom = xasprintf("%s/%s/oom", persist_root, id);
		out->oom = access(oom, F_OK) == 0;
	}
	return 0;
}

int exit_read(const char *exit_dir, const char *persist_root, const char *id, struct exit_info *out,
	      ocid_error **err)
{
	if (id == NULL || !name_ok(id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	cleanup_close int dfd = open(exit_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return err_set(err, GRPC_NOT_FOUND, "no exit file for %s", id);
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", exit_dir);
	}
	return read_exit_at(dfd, exit_dir, persist_root, id, out, err);
}

/* ---- the watch ---- */

static void report(struct exit_watch *w, int dirfd, const char *name, bool from_event)
{
	if (!name_ok(name) || is_temp_name(name))
		return;
	struct exit_info info;
	cleanup_err ocid_error *e = NULL;
	if (read_exit_at(dirfd, w->exit_dir, w->persist_root, name, &info, &e) < 0) {
		/* Renamed or removed meanwhile: nothing to report. */
		if (e->code != GRPC_NOT_FOUND || !from_event) {
			char esc[512];
			log_escape(e->msg, esc, sizeof(esc));
			log_warn("exit file skipped", "id=%s err=\"%s\"", name, esc);
		}
		return;
	}
	w->cb(name, &info, w->arg);
}

int exit_watch_open(struct exit_watch **out, const char *exit_dir, const char *persist_root, exit_watch_cb cb,
		    void *arg, ocid_error **err)
{
	*out = NULL;
	if (fs_mkdir_p(exit_dir, 0700, err) < 0)
		return err_prefix(err, "exit watch");
	struct exit_watch *w = xcalloc(1, sizeof(*w));
	w->exit_dir = xstrdup(exit_dir);
	w->persist_root = persist_root ? xstrdup(persist_root) : NULL;
	w->cb = cb;
	w->arg = arg;
	w->stop = -1;
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: inotify_init1");
		exit_watch_close(w);
		return -1;
	}
	if (inotify_add_watch(w->ifd, exit_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: watch %s", exit_dir);
		exit_watch_close(w);
		return -1;
	}
	*out = w;
	return 0;
}

int exit_watch_scan(struct exit_watch *w, ocid_error **err)
{
	cleanup_close int dfd = open(w->exit_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: open %s", w->exit_dir);
	int lfd = dup(dfd);
	if (lfd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: dup");
	DIR *d = fdopendir(lfd);
	if (d == NULL) {
		close(lfd);
		return err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: fdopendir %s", w->exit_dir);
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		report(w, dfd, de->d_name, false);
	}
	closedir(d);
	return 0;
}

int exit_watch_fd(const struct exit_watch *w) { return w->ifd; }

int exit_watch_dispatch(struct exit_watch *w, ocid_error **err)
{
	char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	int dfd = -1;
	int ret = 0;
	bool overflow = false;
	for (;;) {
		ssize_t n = read(w->ifd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			ret = err_set_errno(err, GRPC_INTERNAL, n < 0 ? errno : EIO, "exit watch: read inotify");
			break;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true;
				continue;
			}
			if (ev->len == 0 || !(ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
				continue;
			if (dfd < 0)
				dfd = open(w->exit_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0) {
				ret = err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: open %s", w->exit_dir);
				break;
			}
			report(w, dfd, ev->name, true);
		}
	}
	if (dfd >= 0)
		close(dfd);
	/* Events were lost: every exit file is reported again. */
	if (overflow && ret == 0) {
		log_warn("exit watch: inotify queue overflow, rescanning", "dir=%s", w->exit_dir);
		ret = exit_watch_scan(w, err);
	}
	return ret;
}

static void *watch_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "ocid-exits");
	struct exit_watch *w = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = w->ifd, .events = POLLIN}, {.fd = w->stop, .events = POLLIN}};
		int r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("exit watch: poll failed", "err=\"%s\"", strerror(errno));
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		if (p[0].revents) {
			cleanup_err ocid_error *e = NULL;
			if (exit_watch_dispatch(w, &e) < 0) {
				char esc[512];
				log_escape(e->msg, esc, sizeof(esc));
				log_error("exit watch: dispatch failed", "err=\"%s\"", esc);
			}
		}
	}
}

int exit_watch_start(struct exit_watch *w, ocid_error **err)
{
	if (w->running)
		return 0;
	w->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "exit watch: eventfd");
	int rc = pthread_create(&w->thread, NULL, watch_thread, w);
	if (rc != 0) {
		close(w->stop);
		w->stop = -1;
		return err_set_errno(err, GRPC_INTERNAL, rc, "exit watch: pthread_create");
	}
	w->running = true;
	return 0;
}

void exit_watch_close(struct exit_watch *w)
{
	if (w == NULL)
		return;
	if (w->running) {
		uint64_t one = 1;
		if (write(w->stop, &one, sizeof(one)) < 0)
			log_warn("exit watch: cannot wake thread", "err=\"%s\"", strerror(errno));
		pthread_join(w->thread, NULL);
	}
	if (w->stop >= 0)
		close(w->stop);
	if (w->ifd >= 0)
		close(w->ifd);
	free(w->exit_dir);
	free(w->persist_root);
	free(w);
}
