/* ocid-pause: pid 1 of a pod's shared PID namespace.
 *
 * A PID namespace dies with its pid 1, so a pod that shares one PID namespace
 * between its containers needs a process that outlives them. This is that
 * process and nothing more: it reaps every child that is reparented to it,
 * exits 0 on SIGTERM or SIGINT, and otherwise sleeps.
 *
 * As pid 1 of a namespace it only receives signals it has handlers for (the
 * kernel drops the others, apart from SIGKILL/SIGSTOP from an ancestor
 * namespace), so real handlers are installed for the signals it waits on; the
 * signals stay blocked and are taken synchronously with sigwaitinfo.
 *
 * With --ready-fd=N it writes one byte to descriptor N and closes it once
 * the handlers are in place: a SIGTERM sent before that would be dropped by
 * the kernel, so ocid waits for the byte before it reports the pod started. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void noop_handler(int sig) { (void)sig; }

static void reap_all(void)
{
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG);
		if (p > 0)
			continue;
		if (p < 0 && errno == EINTR)
			continue;
		break; /* 0: children left but none exited; -1 ECHILD: none left */
	}
}

int main(int argc, char **argv)
{
	int ready_fd = -1;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--ready-fd=", 11) == 0) {
			char *end = NULL;
			long v = strtol(argv[i] + 11, &end, 10);
			if (end == argv[i] + 11 || *end != '\0' || v < 0 || v > 65535) {
				fprintf(stderr, "ocid-pause: bad %s\n", argv[i]);
				return 2;
			}
			ready_fd = (int)v;
		} else {
			fprintf(stderr, "usage: ocid-pause [--ready-fd=N]\n");
			return 2;
		}
	}

	/* Dispositions inherited across exec (SIG_IGN) are not ours: start clean. */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		signal(sig, SIG_DFL);
	}

	sigset_t wait_set;
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGINT);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;
	sigemptyset(&sa.sa_mask);
	/* SIGHUP, SIGUSR1/2 and SIGPIPE get a no-op handler: they must neither
	 * kill pid 1 of a pod (from inside its namespace, where SIG_DFL would
	 * apply to processes that are not pid 1) nor wake the loop. */
	const int ignored[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGQUIT, SIGALRM};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		if (sigaction(ignored[i], &sa, NULL) < 0) {
			fprintf(stderr, "ocid-pause: sigaction: %s\n", strerror(errno));
			return 1;
		}
	}
	sa.sa_flags = SA_NOCLDSTOP;
	const int waited[] = {SIGCHLD, SIGTERM, SIGINT};
	for (size_t i = 0; i < sizeof(waited) / sizeof(waited[0]); i++) {
		if (sigaction(waited[i], &sa, NULL) < 0) {
			fprintf(stderr, "ocid-pause: sigaction: %s\n", strerror(errno));
			return 1;
		}
	}
	sigset_t all;
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, NULL) < 0) {
		fprintf(stderr, "ocid-pause: sigprocmask: %s\n", strerror(errno));
		return 1;
	}

	if (ready_fd >= 0) {
		ssize_t w;
		do
			w = write(ready_fd, "R", 1);
		while (w < 0 && errno == EINTR);
		close(ready_fd);
	}

	/* Children may have been reparented to us before the handlers existed. */
	reap_all();
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&wait_set, &si);
		if (sig < 0)
			continue; /* EINTR: nothing to do */
		if (sig == SIGCHLD)
			reap_all();
		else
			return 0; /* SIGTERM or SIGINT */
	}
}
