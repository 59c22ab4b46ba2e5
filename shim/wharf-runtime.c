/*
 * wharf-runtime: the launcher of wharf's OCI runtime (src/wharf/runtime/cli.py).
 *
 * The runtime is Python, and the process that joins a container's namespaces and calls execve
 * there is that Python interpreter. Were it the host's interpreter file, a container could get
 * a handle to it (an entrypoint "#!/proc/self/exe" makes the kernel run /proc/self/exe, the
 * interpreter, inside the container; a library the image preloads then opens /proc/self/exe)
 * and, once no process runs it any more, write to it: CVE-2019-5736. So this launcher never
 * executes the host's file: it copies the interpreter into a memfd, seals the copy against
 * every change (write, grow, shrink, further seals) and executes the copy. Inside a container,
 * /proc/self/exe is then a sealed anonymous file that nothing can modify and that is gone
 * with the last process that maps it.
 *
 * Built by scripts/install.sh with the interpreter's and the source tree's paths:
 *   gcc -DWHARF_PYTHON='"/path/.venv/bin/python"' -DWHARF_SRC='"/path/src"' ...
 * The copy costs one sendfile of the interpreter (page cache to page cache); Python starts once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WHARF_PYTHON
#error "build with -DWHARF_PYTHON='\"/path/to/python\"'"
#endif
#ifndef WHARF_SRC
#error "build with -DWHARF_SRC='\"/path/to/src\"'"
#endif

extern char **environ;

static const char CODE[] = "import sys; sys.path.insert(0, " "'" WHARF_SRC "'" ")\n"
                           "from wharf.runtime.cli import run\n"
                           "run()\n";

static void die(const char *what) {
    dprintf(2, "wharf-runtime: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv) {
    int src = open(WHARF_PYTHON, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        die("open " WHARF_PYTHON);
    struct stat st;
    if (fstat(src, &st) < 0)
        die("stat " WHARF_PYTHON);
    int mfd = memfd_create("wharf-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        die("memfd_create");
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = sendfile(mfd, src, NULL, (size_t)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("copy " WHARF_PYTHON);
        }
        if (n == 0) {
            errno = EIO;
            die("copy " WHARF_PYTHON " (file shrank)");
        }
        left -= n;
    }
    close(src);
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        die("seal the interpreter's copy");

    char **args = calloc((size_t)argc + 5, sizeof(char *));
    if (!args)
        die("calloc");
    int k = 0;
    args[k++] = WHARF_PYTHON; /* argv[0]: where Python finds its venv and standard library */
    args[k++] = "-IS";
    args[k++] = "-c";
    args[k++] = (char *)CODE;
    for (int i = 1; i < argc; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    fexecve(mfd, args, environ);
    die("execute the interpreter's sealed copy");
}
