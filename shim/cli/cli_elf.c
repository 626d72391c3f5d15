/* Programs synack cannot serve through LD_PRELOAD, told apart by their ELF
 * headers before `synack run` execs them (see cli.h; docs/compatibility.md).
 *
 * The preload only works when the dynamic loader runs (the program has a
 * PT_INTERP, System V ABI gABI "Program Header"), is glibc's (a musl loader
 * cannot load a glibc library), loads a library of our ELF class and
 * machine, and the program makes its socket calls through libc. A Go
 * program built by the gc toolchain issues its own system calls (its
 * syscall package), linked statically or not: it carries a
 * .note.go.buildid or .go.buildinfo section. A script (#!) is judged by its
 * interpreter (execve(2): up to the first blank, one optional argument;
 * /usr/bin/env NAME names the program to look up). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The ELF class of this build: the one libsynack.so is built in. */
#if __SIZEOF_POINTER__ == 8
typedef Elf64_Ehdr Ehdr;
typedef Elf64_Phdr Phdr;
typedef Elf64_Shdr Shdr;
typedef Elf64_Off Off;
#define OUR_CLASS ELFCLASS64
#else
typedef Elf32_Ehdr Ehdr;
typedef Elf32_Phdr Phdr;
typedef Elf32_Shdr Shdr;
typedef Elf32_Off Off;
#define OUR_CLASS ELFCLASS32
#endif

#define MAX_SCRIPT_DEPTH 4 /* as the kernel's binfmt_script recursion bound */

/* path as execvp would find it (PATH when there is no '/'), or false. */
static bool resolve(const char *prog, char *out, size_t len)
{
	const char *p = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (strchr(prog, '/')) {
		snprintf(out, len, "%s", prog);
		return access(out, F_OK) == 0;
	}
	copy = strdup(p ? p : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d[0] ? d : ".", prog);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

static bool read_at(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off) == (ssize_t)len;
}

/* Whether the section header table names one of the Go sections. */
static bool has_go_section(int fd, const Ehdr *eh)
{
	Shdr strtab, sh;
	char name[32];

	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Shdr) || eh->e_shstrndx == SHN_UNDEF ||
	    eh->e_shstrndx >= eh->e_shnum ||
	    !read_at(fd, &strtab, sizeof(strtab),
	             (off_t)(eh->e_shoff + (Off)eh->e_shstrndx * sizeof(Shdr))))
		return false;
	for (unsigned i = 0; i < eh->e_shnum && i < 4096; i++) {
		if (!read_at(fd, &sh, sizeof(sh), (off_t)(eh->e_shoff + i * sizeof(Shdr))) ||
		    sh.sh_name >= strtab.sh_size)
			continue;
		memset(name, 0, sizeof(name));
		if (pread(fd, name, sizeof(name) - 1, (off_t)(strtab.sh_offset + sh.sh_name)) <= 0)
			continue;
		if (!strcmp(name, ".note.go.buildid") || !strcmp(name, ".go.buildinfo") ||
		    !strcmp(name, ".gopclntab"))
			return true;
	}
	return false;
}

static bool judge(const char *prog, char *why, size_t len, int depth);

/* "#!INTERP [ARG]": judge INTERP (or, for env, the program it runs). */
static bool judge_script(const char *path, int fd, char *why, size_t len, int depth)
{
	char line[256], *interp, *arg, *end;
	ssize_t n = pread(fd, line, sizeof(line) - 1, 0);

	if (n <= 2)
		return false;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	interp = line + 2 + strspn(line + 2, " \t");
	end = interp + strcspn(interp, " \t");
	arg = *end ? end + 1 + strspn(end + 1, " \t") : end;
	*end = '\0';
	arg[strcspn(arg, " \t")] = '\0';
	if (!interp[0])
		return false;
	if (depth >= MAX_SCRIPT_DEPTH) {
		snprintf(why, len, "%s: too many levels of #! interpreters", path);
		return true;
	}
	/* #!/usr/bin/env NAME (-S and other options are left to env) */
	if (!strcmp(strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp, "env") && arg[0] &&
	    arg[0] != '-')
		interp = arg;
	char inner[PATH_MAX + 256];
	if (!judge(interp, inner, sizeof(inner), depth + 1))
		return false;
	snprintf(why, len, "%s%s a script for %s", path, depth ? ", which is" : " is", inner);
	return true;
}

static bool judge(const char *prog, char *why, size_t len, int depth)
{
	/* "P is ..." alone, "P, which is ..." after "is a script for". */
	const char *is = depth ? ", which is" : " is";
	char path[PATH_MAX], interp[PATH_MAX];
	unsigned char magic[4];
	Ehdr eh;
	Phdr ph;
	bool has_interp = false;
	int fd;

	if (!resolve(prog, path, sizeof(path)))
		return false; /* exec says it better */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !read_at(fd, magic, sizeof(magic), 0)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (magic[0] == '#' && magic[1] == '!') {
		bool r = judge_script(path, fd, why, len, depth);

		close(fd);
		return r;
	}
	if (memcmp(magic, ELFMAG, SELFMAG) != 0 || !read_at(fd, &eh, sizeof(eh), 0)) {
		close(fd);
		return false; /* not ELF: the kernel's business */
	}
	if (eh.e_ident[EI_CLASS] != OUR_CLASS) {
		snprintf(why, len,
		         "%s%s a %d-bit program: libsynack.so is %d-bit and the loader "
		         "ignores it",
		         path, is, eh.e_ident[EI_CLASS] == ELFCLASS32 ? 32 : 64,
		         (int)sizeof(void *) * 8);
		close(fd);
		return true;
	}
	interp[0] = '\0';
	for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
		if (eh.e_phentsize != sizeof(ph) ||
		    !read_at(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))))
			break;
		if (ph.p_type == PT_INTERP) {
			size_t n = ph.p_filesz < sizeof(interp) ? ph.p_filesz : sizeof(interp) - 1;

			has_interp = true;
			if (!read_at(fd, interp, n, (off_t)ph.p_offset))
				n = 0;
			interp[n] = '\0';
		}
	}
	if (has_go_section(fd, &eh)) {
		snprintf(why, len,
		         "%s%s a Go program: Go makes its socket calls itself, not through "
		         "libc, so the preload cannot see them",
		         path, is);
	} else if (!has_interp) {
		snprintf(why, len,
		         "%s%s statically linked (no program interpreter): no dynamic "
		         "loader runs, so LD_PRELOAD is never read",
		         path, is);
	} else if (strstr(interp, "ld-musl")) {
		snprintf(why, len, "%s%s linked against musl (%s): libsynack.so is built for glibc",
		         path, is, interp);
	} else {
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

bool cli_elf_unservable(const char *prog, char *why, size_t len)
{
	return judge(prog, why, len, 0);
}
