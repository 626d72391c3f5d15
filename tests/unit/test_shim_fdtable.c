/* shim fd table: references shared by dup'ed fds, release exactly once at
 * the last reference, purge of stale entries, internal fds. Uses fd
 * numbers only (no real fds are needed). */
#include <criterion/criterion.h>

#include "fdtable.h"

static int released;
static struct shim_ofd *last_released;

static void on_release(struct shim_ofd *o)
{
	released++;
	last_released = o;
}

/* Every kind releases through the test's counter. */
static const struct shim_ofd_ops counting = {.name = "test", .release = on_release};

static void setup(void)
{
	fdt_init((const struct shim_ofd_ops *const[SHIM_OFD__KINDS]){
	    [SHIM_OFD_PENDING] = &counting, [SHIM_OFD_SYNACK] = &counting, [SHIM_OFD_EPOLL] = &counting});
	released = 0;
	last_released = NULL;
}

TestSuite(shim_fdtable, .init = setup);

static struct shim_ofd *synack_ofd(int sock)
{
	struct shim_ofd *o = ofd_new(SHIM_OFD_SYNACK);

	cr_assert_not_null(o);
	o->sock = sock;
	return o;
}

Test(shim_fdtable, untracked_fd_is_not_found)
{
	cr_assert_not(fdt_maybe_tracked(100));
	cr_assert_null(fdt_get(100));
	cr_assert_null(fdt_get(-1));
	cr_assert_null(fdt_get(fdt_capacity()));
	cr_assert_null(fdt_remove(100, NULL));
}

Test(shim_fdtable, install_get_put_keeps_description)
{
	struct shim_ofd *o = synack_ofd(7), *g;

	cr_assert_eq(fdt_install(10, o), 0);
	cr_assert(fdt_maybe_tracked(10));
	g = fdt_get(10);
	cr_assert_eq(g, o);
	cr_assert_eq(g->sock, 7);
	ofd_put(g);
	cr_assert_eq(released, 0, "the fd still holds it");
	fdt_purge(10);
}

Test(shim_fdtable, close_of_only_fd_is_last_and_releases)
{
	struct shim_ofd *o = synack_ofd(1);
	bool last = false;

	fdt_install(11, o);
	cr_assert_eq(fdt_remove(11, &last), o);
	cr_assert(last);
	cr_assert_not(fdt_maybe_tracked(11));
	cr_assert_eq(released, 0, "caller still holds the slot reference");
	ofd_put(o);
	cr_assert_eq(released, 1);
	cr_assert_eq(last_released, o);
}

Test(shim_fdtable, dup_shares_until_last_close)
{
	struct shim_ofd *o = synack_ofd(2);
	bool last = true;

	fdt_install(12, o);
	fdt_install(13, o); /* dup(12) == 13 */
	cr_assert_eq(o->nfds, 2);
	cr_assert_eq(fdt_remove(12, &last), o);
	cr_assert_not(last, "13 still names it: no FIN yet");
	ofd_put(o);
	cr_assert_eq(released, 0);
	cr_assert_eq(fdt_get(13), o);
	ofd_put(o);
	cr_assert_eq(fdt_remove(13, &last), o);
	cr_assert(last);
	ofd_put(o);
	cr_assert_eq(released, 1);
}

Test(shim_fdtable, in_flight_user_delays_release_after_close)
{
	struct shim_ofd *o = synack_ofd(3), *user;
	bool last;

	fdt_install(14, o);
	user = fdt_get(14); /* a thread blocked in recv */
	cr_assert_eq(fdt_remove(14, &last), o);
	cr_assert(last);
	ofd_put(o);
	cr_assert_eq(released, 0, "the blocked user still holds it");
	ofd_put(user);
	cr_assert_eq(released, 1);
}

Test(shim_fdtable, purge_drops_stale_entry)
{
	struct shim_ofd *o = synack_ofd(4);

	fdt_install(15, o);
	fdt_purge(15); /* the program closed 15 behind our back; kernel reused it */
	cr_assert_not(fdt_maybe_tracked(15));
	cr_assert_eq(released, 1);
}

Test(shim_fdtable, install_over_stale_entry_releases_it)
{
	struct shim_ofd *a = synack_ofd(5), *b = synack_ofd(6);

	fdt_install(16, a);
	fdt_install(16, b);
	cr_assert_eq(released, 1);
	cr_assert_eq(last_released, a);
	cr_assert_eq(fdt_get(16), b);
	ofd_put(b);
	fdt_purge(16);
	cr_assert_eq(released, 2);
}

Test(shim_fdtable, internal_fd_is_invisible_and_protected)
{
	fdt_mark_internal(17);
	cr_assert(fdt_is_internal(17));
	cr_assert(fdt_maybe_tracked(17));
	cr_assert_null(fdt_get(17), "never handed out as a socket");
	cr_assert_null(fdt_remove(17, NULL), "close() cannot detach it");
	cr_assert(fdt_is_internal(17), "still marked after a refused remove");
	fdt_purge(17);
	cr_assert_not(fdt_is_internal(17));
}

Test(shim_fdtable, forget_detaches_every_dup)
{
	struct shim_ofd *o = ofd_new(SHIM_OFD_PENDING), *hold;

	fdt_install(18, o);
	fdt_install(19, o);
	fdt_install(20, o);
	hold = fdt_get(18);
	fdt_forget(o);
	cr_assert_not(fdt_maybe_tracked(18));
	cr_assert_not(fdt_maybe_tracked(19));
	cr_assert_not(fdt_maybe_tracked(20));
	cr_assert_eq(released, 0);
	ofd_put(hold);
	cr_assert_eq(released, 1);
}

static void count_fd(int fd, struct shim_ofd *o, void *arg)
{
	(void)o;
	if (fd >= 30 && fd < 40)
		(*(int *)arg)++;
}

Test(shim_fdtable, foreach_visits_each_slot)
{
	struct shim_ofd *o = synack_ofd(8);
	int n = 0;

	fdt_install(30, o);
	fdt_install(31, o);
	fdt_mark_internal(32);
	fdt_foreach(count_fd, &n);
	cr_assert_eq(n, 2, "internal fds are not descriptions");
	fdt_purge(30);
	fdt_purge(31);
	fdt_purge(32);
	cr_assert_eq(released, 1);
}

Test(shim_fdtable, out_of_range_install_fails)
{
	struct shim_ofd *o = synack_ofd(9);

	cr_assert_eq(fdt_install(-1, o), -1);
	cr_assert_eq(fdt_install(fdt_capacity(), o), -1);
	cr_assert_eq(o->refs, 0);
	ofd_get(o);
	ofd_put(o);
	cr_assert_eq(released, 1);
}
