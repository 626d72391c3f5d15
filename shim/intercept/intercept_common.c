/* Helpers shared by the wrappers (see intercept.h). */
#include "intercept.h"

#include "../fd/internal_fd.h"
#include "../socket/sockio.h"

struct shim_ofd *shim_synack_ofd(int fd, long *err)
{
	struct shim_ofd *o = fdt_get(fd);
	int r;

	*err = 0;
	if (!o)
		return NULL;
	if (o->kind != SHIM_OFD_SYNACK) {
		ofd_put(o);
		return NULL;
	}
	r = sockio_usable(o, fd);
	if (r < 0) {
		*err = r;
		ofd_put(o);
		return NULL;
	}
	return o;
}

struct shim_ofd *shim_offloaded(int fd, long *err)
{
	*err = 0;
	if (shim_bypass(fd))
		return NULL;
	return shim_synack_ofd(fd, err);
}

int shim_new_fd(int fd)
{
	if (fd < 0)
		return fd;
	if (shim_inside())
		return shim_internal_adopt(fd);
	fdt_purge(fd);
	return fd;
}
