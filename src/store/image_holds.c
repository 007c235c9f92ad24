#include "store/image_holds.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/xalloc.h"

struct hold {
	char *id;
	unsigned count;
	struct hold *next;
};

struct image_holds {
	pthread_mutex_t mu;
	struct hold *list;
};

struct image_holds *image_holds_new(void)
{
	struct image_holds *h = xcalloc(1, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void image_holds_free(struct image_holds *h)
{
	if (h == NULL)
		return;
	while (h->list) {
		struct hold *e = h->list;
		h->list = e->next;
		free(e->id);
		free(e);
	}
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static struct hold *find(struct image_holds *h, const char *id)
{
	for (struct hold *e = h->list; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

unsigned image_holds_count(struct image_holds *h, const char *image_id)
{
	pthread_mutex_lock(&h->mu);
	struct hold *e = find(h, image_id);
	unsigned n = e ? e->count : 0;
	pthread_mutex_unlock(&h->mu);
	return n;
}

int image_holds_in_use(void *ctx, store_db *db, const char *image_id, ocid_error **err)
{
	(void)db;
	(void)err;
	return image_holds_count(ctx, image_id) > 0 ? 1 : 0;
}

struct take_ctx {
	struct image_holds *h;
	const char *id;
};

static void take(void *p)
{
	struct take_ctx *tc = p;
	pthread_mutex_lock(&tc->h->mu);
	struct hold *e = find(tc->h, tc->id);
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->id = xstrdup(tc->id);
		e->next = tc->h->list;
		tc->h->list = e;
	}
	e->count++;
	pthread_mutex_unlock(&tc->h->mu);
}

int store_image_hold(struct store *s, const char *image_id, ocid_error **err)
{
	struct take_ctx tc = { .h = s->holds, .id = image_id };
	if (images_with_image(s->images, image_id, take, &tc, err) < 0)
		return err_prefix(err, "hold image %s", image_id);
	return 0;
}

void store_image_release(struct store *s, const char *image_id)
{
	struct image_holds *h = s->holds;
	pthread_mutex_lock(&h->mu);
	for (struct hold **pp = &h->list; *pp; pp = &(*pp)->next) {
		struct hold *e = *pp;
		if (strcmp(e->id, image_id) != 0)
			continue;
		if (--e->count == 0) {
			*pp = e->next;
			free(e->id);
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&h->mu);
}
