/* SPDX-License-Identifier: MIT */
/*
 * hv-sim: the hypervisor interface over xensim's control socket
 * (contrib/xensim/protocol.h). Set-up calls are request/reply datagrams;
 * shared pages and guest RAM arrive as memfds and event channels as
 * eventfds, so the per-ioreq path never touches the socket.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "contrib/xensim/protocol.h"
#include "ioreq/hv.h"

#include <xen/grant_table.h> /* GNTST_*, after hv.h's stdint */

#define SIM_PAGE_SIZE 4096u

struct sim_port {
    int from_guest; /* readable when the guest side notified us */
    int to_guest;   /* write 1 to notify the guest side */
};

struct sim_server {
    bool live;
    void *slots;
    void *buffered;
};

/* One grant_map: xensim's handle for it. */
struct sim_grant_mapping {
    bool in_window;
    uint32_t handle;
    unsigned int count;
};

struct hv_sim {
    struct hv hv;
    int sock;
    int ram_fd;
    struct hv_domain_info info;
    struct xsim_ram_region ram[XSIM_RAM_REGIONS];
    struct sim_server servers[XSIM_MAX_SERVERS];
    GHashTable *ports; /* local port -> struct sim_port */
    GHashTable *grant_maps; /* address -> struct sim_grant_mapping */
    /* grant_copy: all of guest RAM mapped once (address space only), and
     * one batch's wire items, allocated on first use */
    uint8_t *ram_view;
    uint64_t ram_view_size;
    /* Single-page grant maps land at grant_window + their RAM offset, so
     * pages next to each other in guest memory are next to each other here
     * too: a backend can then hand one long iovec to the kernel instead of
     * one per page (each O_DIRECT iovec is a separate page-pinning call).
     * Reserved PROT_NONE; window_used says which pages are mapped. */
    uint8_t *grant_window;
    uint64_t grant_window_size;
    uint8_t *window_used;
    struct xsim_grant_copy_seg *copy_segs;
    struct xsim_grant_copy_result *copy_results;
};

static struct hv_sim *to_sim(struct hv *hv)
{
    return (struct hv_sim *)hv;
}

static void close_fds(int *fds, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* One request, one reply; fds received into fds[] (all -1 if none). The
 * reply's fd count is checked against what we expect, so a confused peer
 * cannot make us keep stray descriptors. */
static int sim_call_to(struct hv_sim *s, uint32_t op, uint32_t target, const uint64_t args[4],
                       struct xsim_reply *reply, int fds[XSIM_MAX_FDS])
{
    struct xsim_request req = { .op = op, .target = target };
    char cbuf[CMSG_SPACE(sizeof(int) * XSIM_MAX_FDS)];
    struct iovec iov = { .iov_base = reply, .iov_len = sizeof(*reply) };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    ssize_t n;

    if (args)
        memcpy(req.arg, args, sizeof(req.arg));
    for (unsigned int i = 0; i < XSIM_MAX_FDS; i++)
        fds[i] = -1;
    do {
        n = send(s->sock, &req, sizeof(req), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(req))
        return n < 0 ? -errno : -EIO;
    do {
        n = recvmsg(s->sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    unsigned int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        unsigned int nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (unsigned int i = 0; i < nfd && got < XSIM_MAX_FDS; i++)
            memcpy(&fds[got++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    if (n != (ssize_t)sizeof(*reply) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        reply->nr_fds != got) {
        close_fds(fds, XSIM_MAX_FDS);
        return n == 0 ? -ECONNRESET : -EPROTO;
    }
    return reply->status;
}

static int sim_call(struct hv_sim *s, uint32_t op, const uint64_t args[4], struct xsim_reply *reply,
                    int fds[XSIM_MAX_FDS])
{
    return sim_call_to(s, op, 0, args, reply, fds);
}

static int sim_simple(struct hv *hv, uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2,
                      uint64_t a3)
{
    const uint64_t args[4] = { a0, a1, a2, a3 };
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    int rc = sim_call(to_sim(hv), op, args, &reply, fds);

    close_fds(fds, XSIM_MAX_FDS);
    return rc;
}

static int sim_get_info(struct hv *hv, struct hv_domain_info *info)
{
    *info = to_sim(hv)->info;
    return 0;
}

static int sim_create_server(struct hv *hv, bool want_buffered, uint16_t *id)
{
    const uint64_t args[4] = { want_buffered ? 1 : 0 };
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    int rc = sim_call(to_sim(hv), XSIM_OP_CREATE_SERVER, args, &reply, fds);

    close_fds(fds, XSIM_MAX_FDS);
    if (rc < 0)
        return rc;
    if (reply.val[0] >= XSIM_MAX_SERVERS)
        return -EPROTO;
    *id = (uint16_t)reply.val[0];
    to_sim(hv)->servers[*id].live = true;
    return 0;
}

static void *map_page(int fd)
{
    void *p = mmap(NULL, SIM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap_server_pages(struct sim_server *srv)
{
    if (srv->slots)
        munmap(srv->slots, SIM_PAGE_SIZE);
    if (srv->buffered)
        munmap(srv->buffered, SIM_PAGE_SIZE);
    srv->slots = srv->buffered = NULL;
}

static int sim_map_server_pages(struct hv *hv, uint16_t id, struct hv_server_pages *pages)
{
    struct hv_sim *s = to_sim(hv);
    const uint64_t args[4] = { id };
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    int rc;

    if (id >= XSIM_MAX_SERVERS || !s->servers[id].live)
        return -ENOENT;
    rc = sim_call(s, XSIM_OP_GET_SERVER_PAGES, args, &reply, fds);
    if (rc == 0 && fds[0] < 0)
        rc = -EPROTO;
    if (rc == 0) {
        struct sim_server *srv = &s->servers[id];
        unmap_server_pages(srv);
        srv->slots = map_page(fds[0]);
        srv->buffered = fds[1] >= 0 ? map_page(fds[1]) : NULL;
        if (!srv->slots || (fds[1] >= 0 && !srv->buffered)) {
            unmap_server_pages(srv);
            rc = -ENOMEM;
        } else {
            pages->slots = srv->slots;
            pages->buffered = srv->buffered;
            pages->buffered_port = srv->buffered ? (uint32_t)reply.val[0] : 0;
        }
    }
    close_fds(fds, XSIM_MAX_FDS);
    return rc;
}

static int sim_set_server_state(struct hv *hv, uint16_t id, bool enabled)
{
    return sim_simple(hv, XSIM_OP_SET_SERVER_STATE, id, enabled, 0, 0);
}

static int sim_map_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                         uint64_t end)
{
    return sim_simple(hv, XSIM_OP_MAP_RANGE, id, type, start, end);
}

static int sim_unmap_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                           uint64_t end)
{
    return sim_simple(hv, XSIM_OP_UNMAP_RANGE, id, type, start, end);
}

static int sim_destroy_server(struct hv *hv, uint16_t id)
{
    struct hv_sim *s = to_sim(hv);

    if (id >= XSIM_MAX_SERVERS)
        return -ENOENT;
    unmap_server_pages(&s->servers[id]);
    s->servers[id].live = false;
    return sim_simple(hv, XSIM_OP_DESTROY_SERVER, id, 0, 0, 0);
}

/* ---- event channels -------------------------------------------------------- */

static void port_free(gpointer p)
{
    struct sim_port *port = p;

    close(port->from_guest);
    close(port->to_guest);
    g_free(port);
}

static int sim_evtchn_bind(struct hv *hv, uint32_t remote_port, hv_port_t *local)
{
    struct hv_sim *s = to_sim(hv);
    const uint64_t args[4] = { remote_port };
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    int rc = sim_call(s, XSIM_OP_EVTCHN_BIND, args, &reply, fds);

    if (rc == 0 && (fds[0] < 0 || fds[1] < 0 || reply.val[0] > INT32_MAX ||
                    g_hash_table_contains(s->ports, GINT_TO_POINTER((int)reply.val[0]))))
        rc = -EPROTO;
    if (rc < 0) {
        close_fds(fds, XSIM_MAX_FDS);
        return rc;
    }
    struct sim_port *port = g_new(struct sim_port, 1);
    port->from_guest = fds[0];
    port->to_guest = fds[1];
    close_fds(fds + 2, XSIM_MAX_FDS - 2);
    *local = (hv_port_t)reply.val[0];
    g_hash_table_insert(s->ports, GINT_TO_POINTER(*local), port);
    return 0;
}

static int sim_evtchn_unbind(struct hv *hv, hv_port_t local)
{
    struct hv_sim *s = to_sim(hv);

    if (!g_hash_table_remove(s->ports, GINT_TO_POINTER(local)))
        return -ENOENT;
    return sim_simple(hv, XSIM_OP_EVTCHN_UNBIND, (uint64_t)local, 0, 0, 0);
}

static struct sim_port *port_lookup(struct hv *hv, hv_port_t local)
{
    return g_hash_table_lookup(to_sim(hv)->ports, GINT_TO_POINTER(local));
}

static int sim_evtchn_fd(struct hv *hv, hv_port_t local)
{
    struct sim_port *port = port_lookup(hv, local);
    return port ? port->from_guest : -ENOENT;
}

static hv_port_t sim_evtchn_pending(struct hv *hv, int fd)
{
    GHashTableIter it;
    gpointer key, value;
    uint64_t count;

    g_hash_table_iter_init(&it, to_sim(hv)->ports);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        struct sim_port *port = value;
        if (port->from_guest != fd)
            continue;
        if (read(fd, &count, sizeof(count)) != sizeof(count))
            return -1;
        return GPOINTER_TO_INT(key);
    }
    return -1;
}

static int sim_evtchn_unmask(struct hv *hv, hv_port_t local)
{
    return port_lookup(hv, local) ? 0 : -ENOENT; /* eventfds need no unmasking */
}

static int sim_evtchn_notify(struct hv *hv, hv_port_t local)
{
    struct sim_port *port = port_lookup(hv, local);
    uint64_t one = 1;

    if (!port)
        return -ENOENT;
    return write(port->to_guest, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* ---- guest memory ------------------------------------------------------------ */

static bool overlaps_vga_hole(const struct hv_sim *s, uint64_t gpa, uint64_t len)
{
    return s->info.arch == HV_ARCH_X86 && gpa < XSIM_X86_VGA_HOLE_END &&
           gpa + len > XSIM_X86_VGA_HOLE_START;
}

static void *sim_map_frames(struct hv *hv, uint64_t gfn, size_t nr, bool writable, int *err)
{
    struct hv_sim *s = to_sim(hv);
    uint64_t gpa = gfn * SIM_PAGE_SIZE, len = (uint64_t)nr * SIM_PAGE_SIZE;

    if (gfn > UINT64_MAX / SIM_PAGE_SIZE || nr > UINT64_MAX / SIM_PAGE_SIZE ||
        overlaps_vga_hole(s, gpa, len)) {
        *err = -EFAULT;
        return NULL;
    }

    for (unsigned int i = 0; i < XSIM_RAM_REGIONS; i++) {
        const struct xsim_ram_region *r = &s->ram[i];
        if (!r->size || gpa < r->gpa || gpa - r->gpa > r->size || len > r->size - (gpa - r->gpa))
            continue;
        void *p = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, s->ram_fd,
                       (off_t)(r->offset + (gpa - r->gpa)));
        if (p != MAP_FAILED)
            return p;
        *err = -errno;
        return NULL;
    }
    *err = -EFAULT;
    return NULL;
}

static int sim_unmap_frames(struct hv *hv, void *addr, size_t nr)
{
    return munmap(addr, nr * SIM_PAGE_SIZE) == 0 ? 0 : -errno;
}

/* ---- grants ------------------------------------------------------------------ */

/* A variable-length op: the header and `items`, one reply whose items land
 * in `out` (out_len: how many bytes came). Grant replies carry no fds. */
static int sim_call_items(struct hv_sim *s, uint32_t op, const uint64_t args[4], const void *items,
                          size_t items_len, struct xsim_reply *reply, void *out, size_t out_max,
                          size_t *out_len)
{
    struct xsim_request req = { .op = op };
    char cbuf[CMSG_SPACE(sizeof(int) * XSIM_MAX_FDS)];
    struct iovec send_iov[2] = {
        { .iov_base = &req, .iov_len = sizeof(req) },
        { .iov_base = (void *)items, .iov_len = items_len },
    };
    struct msghdr send_msg = { .msg_iov = send_iov, .msg_iovlen = items_len ? 2 : 1 };
    struct iovec recv_iov[2] = {
        { .iov_base = reply, .iov_len = sizeof(*reply) },
        { .iov_base = out, .iov_len = out_max },
    };
    struct msghdr recv_msg = {
        .msg_iov = recv_iov, .msg_iovlen = out_max ? 2 : 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    ssize_t n;

    memcpy(req.arg, args, sizeof(req.arg));
    do {
        n = sendmsg(s->sock, &send_msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)(sizeof(req) + items_len))
        return n < 0 ? -errno : -EIO;
    do {
        n = recvmsg(s->sock, &recv_msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    bool stray_fds = false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&recv_msg); c; c = CMSG_NXTHDR(&recv_msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        unsigned int nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (unsigned int i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            close(fd);
            stray_fds = true;
        }
    }
    if (n < (ssize_t)sizeof(*reply) || (recv_msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        stray_fds || reply->nr_fds)
        return n == 0 ? -ECONNRESET : -EPROTO;
    *out_len = (size_t)n - sizeof(*reply);
    return reply->status;
}

/* Is [offset, offset+len) of the RAM memfd inside one RAM region? */
static bool ram_offset_valid(const struct hv_sim *s, uint64_t offset, uint64_t len)
{
    for (unsigned int i = 0; i < XSIM_RAM_REGIONS; i++) {
        const struct xsim_ram_region *r = &s->ram[i];
        if (r->size && offset >= r->offset && offset - r->offset <= r->size &&
            len <= r->size - (offset - r->offset))
            return true;
    }
    return false;
}

static int grant_unmap_remote(struct hv_sim *s, uint32_t handle)
{
    return sim_simple(&s->hv, XSIM_OP_GRANT_UNMAP, handle, 0, 0, 0);
}

/* Place each granted page at its slot of one reserved region, merging runs
 * that are consecutive in the memfd into one mmap. */
static int place_granted_pages(struct hv_sim *s, uint8_t *base, const uint64_t *offsets,
                               unsigned int count, bool writable)
{
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    for (unsigned int i = 0; i < count;) {
        unsigned int run = 1;
        while (i + run < count && offsets[i + run] == offsets[i] + (uint64_t)run * SIM_PAGE_SIZE)
            run++;
        void *p = mmap(base + (size_t)i * SIM_PAGE_SIZE, (size_t)run * SIM_PAGE_SIZE, prot,
                       MAP_SHARED | MAP_FIXED, s->ram_fd, (off_t)offsets[i]);
        if (p == MAP_FAILED)
            return -errno;
        i += run;
    }
    return 0;
}

static uint64_t ram_span(const struct hv_sim *s)
{
    uint64_t size = 0;

    for (unsigned int i = 0; i < XSIM_RAM_REGIONS; i++)
        if (s->ram[i].size && s->ram[i].offset + s->ram[i].size > size)
            size = s->ram[i].offset + s->ram[i].size;
    return size;
}

/* The frame-ordered place for a single page at RAM offset `offset`, or
 * NULL when the window cannot be had or the page is mapped there already
 * (another ref to the same frame: it then gets a place of its own, so
 * every mapping keeps its own address and unmap). */
static uint8_t *window_place(struct hv_sim *s, uint64_t offset)
{
    if (!s->grant_window) {
        uint64_t size = ram_span(s);
        void *p = size ? mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                              -1, 0)
                       : MAP_FAILED;
        if (p == MAP_FAILED)
            return NULL;
        s->grant_window = p;
        s->grant_window_size = size;
        s->window_used = g_malloc0(size / SIM_PAGE_SIZE);
    }
    if (offset + SIM_PAGE_SIZE > s->grant_window_size || s->window_used[offset / SIM_PAGE_SIZE])
        return NULL;
    return s->grant_window + offset;
}

/* Back to a reserved, faulting page: a late write must not land in a
 * frame the guest may have reused. */
static void window_release(struct hv_sim *s, uint8_t *addr)
{
    mmap(addr, SIM_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
         -1, 0);
    s->window_used[(uint64_t)(addr - s->grant_window) / SIM_PAGE_SIZE] = 0;
}

static void *sim_grant_map(struct hv *hv, const uint32_t *refs, unsigned int count, bool writable,
                           int *err)
{
    struct hv_sim *s = to_sim(hv);
    const uint64_t args[4] = { count, writable ? 1 : 0 };
    struct xsim_reply reply;
    uint64_t *offsets;
    size_t got = 0;
    int rc;

    if (count == 0) {
        *err = -EINVAL;
        return NULL;
    }
    if (count > XSIM_GRANT_MAX_REFS) {
        *err = -E2BIG; /* one xensim handle per mapping keeps unmap whole */
        return NULL;
    }
    offsets = g_new(uint64_t, count);
    rc = sim_call_items(s, XSIM_OP_GRANT_MAP, args, refs, (size_t)count * sizeof(*refs), &reply,
                        offsets, (size_t)count * sizeof(*offsets), &got);
    if (rc < 0) {
        g_free(offsets);
        *err = rc;
        return NULL;
    }
    uint32_t handle = (uint32_t)reply.val[0];
    rc = got == (size_t)count * sizeof(*offsets) && reply.val[0] <= UINT32_MAX ? 0 : -EPROTO;
    for (unsigned int i = 0; rc == 0 && i < count; i++)
        if (offsets[i] % SIM_PAGE_SIZE || !ram_offset_valid(s, offsets[i], SIM_PAGE_SIZE))
            rc = -EPROTO;
    void *base = MAP_FAILED;
    uint8_t *slot = rc == 0 && count == 1 ? window_place(s, offsets[0]) : NULL;
    if (slot) {
        rc = place_granted_pages(s, slot, offsets, 1, writable);
        if (rc == 0) {
            s->window_used[offsets[0] / SIM_PAGE_SIZE] = 1;
            base = slot;
        }
    } else if (rc == 0) {
        /* reserve the whole span first so the pages land side by side */
        base = mmap(NULL, (size_t)count * SIM_PAGE_SIZE, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        rc = base == MAP_FAILED ? -errno : place_granted_pages(s, base, offsets, count, writable);
    }
    g_free(offsets);
    if (rc < 0) {
        if (base != MAP_FAILED && !slot)
            munmap(base, (size_t)count * SIM_PAGE_SIZE);
        grant_unmap_remote(s, handle);
        *err = rc;
        return NULL;
    }
    struct sim_grant_mapping *m = g_new(struct sim_grant_mapping, 1);
    m->in_window = slot != NULL;
    m->handle = handle;
    m->count = count;
    g_hash_table_insert(s->grant_maps, base, m);
    *err = 0;
    return base;
}

static int sim_grant_unmap(struct hv *hv, void *addr, unsigned int count)
{
    struct hv_sim *s = to_sim(hv);
    struct sim_grant_mapping *m = g_hash_table_lookup(s->grant_maps, addr);

    if (!m || m->count != count)
        return -EINVAL;
    uint32_t handle = m->handle;
    /* our pages go first: once xensim clears the flags the guest may reuse
     * the frames, and a late write of ours must fault, not land there */
    if (m->in_window)
        window_release(s, addr);
    else
        munmap(addr, (size_t)count * SIM_PAGE_SIZE);
    g_hash_table_remove(s->grant_maps, addr);
    return grant_unmap_remote(s, handle);
}

static int ensure_ram_view(struct hv_sim *s)
{
    if (s->ram_view)
        return 0;
    uint64_t size = ram_span(s);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->ram_fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    s->ram_view = p;
    s->ram_view_size = size;
    s->copy_segs = g_new(struct xsim_grant_copy_seg, XSIM_GRANT_MAX_COPY_SEGS);
    s->copy_results = g_new(struct xsim_grant_copy_result, XSIM_GRANT_MAX_COPY_SEGS);
    return 0;
}

/* One batch (<= XSIM_GRANT_MAX_COPY_SEGS): one round trip in which xensim
 * checks and pins every entry, our memcpys, then GRANT_COPY_DONE (no
 * reply) to unpin. */
static int grant_copy_batch(struct hv_sim *s, struct hv_grant_copy_seg *segs, unsigned int count)
{
    const uint64_t args[4] = { count };
    struct xsim_reply reply;
    size_t got = 0;

    for (unsigned int i = 0; i < count; i++)
        s->copy_segs[i] = (struct xsim_grant_copy_seg){
            .ref = segs[i].ref, .offset = segs[i].offset, .len = segs[i].len,
            .flags = segs[i].to_guest ? XSIM_GRANT_COPY_TO_GUEST : 0,
        };
    int rc = sim_call_items(s, XSIM_OP_GRANT_COPY, args, s->copy_segs,
                            (size_t)count * sizeof(*s->copy_segs), &reply, s->copy_results,
                            (size_t)count * sizeof(*s->copy_results), &got);
    if (rc < 0)
        return rc;
    if (got != (size_t)count * sizeof(*s->copy_results))
        rc = -EPROTO;
    for (unsigned int i = 0; i < count; i++) {
        struct hv_grant_copy_seg *seg = &segs[i];
        const struct xsim_grant_copy_result *r = &s->copy_results[i];
        if (rc < 0) {
            seg->status = GNTST_general_error;
            continue;
        }
        seg->status = (int16_t)r->status;
        if (r->status != GNTST_okay)
            continue;
        if (r->offset > s->ram_view_size || seg->len > s->ram_view_size - r->offset ||
            (seg->len && !seg->local)) {
            seg->status = r->offset > s->ram_view_size ? GNTST_general_error : GNTST_bad_copy_arg;
            continue;
        }
        if (seg->to_guest)
            memcpy(s->ram_view + r->offset, seg->local, seg->len);
        else
            memcpy(seg->local, s->ram_view + r->offset, seg->len);
    }
    struct xsim_request done = { .op = XSIM_OP_GRANT_COPY_DONE };
    ssize_t n;
    do {
        n = send(s->sock, &done, sizeof(done), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (rc == 0 && n != (ssize_t)sizeof(done))
        rc = n < 0 ? -errno : -EIO;
    return rc;
}

static int sim_grant_copy(struct hv *hv, struct hv_grant_copy_seg *segs, unsigned int count)
{
    struct hv_sim *s = to_sim(hv);
    int rc = ensure_ram_view(s);

    for (unsigned int done = 0; rc == 0 && done < count;) {
        unsigned int batch = MIN(count - done, XSIM_GRANT_MAX_COPY_SEGS);
        rc = grant_copy_batch(s, segs + done, batch);
        done += batch;
    }
    return rc;
}

/* ---- interrupts and domain control -------------------------------------------- */

static int sim_set_isa_irq_level(struct hv *hv, uint8_t irq, bool level)
{
    return sim_simple(hv, XSIM_OP_SET_ISA_IRQ, irq, level, 0, 0);
}

static int sim_set_pci_intx_level(struct hv *hv, uint16_t seg, uint8_t bus, uint8_t dev,
                                  uint8_t intx, bool level)
{
    return sim_simple(hv, XSIM_OP_SET_PCI_INTX, hv_sbdf(seg, bus, dev, 0), intx, level, 0);
}

static int sim_set_pci_link_route(struct hv *hv, uint8_t link, uint8_t isa_irq)
{
    return sim_simple(hv, XSIM_OP_SET_PCI_LINK_ROUTE, link, isa_irq, 0, 0);
}

static int sim_inject_msi(struct hv *hv, uint64_t addr, uint32_t data)
{
    return sim_simple(hv, XSIM_OP_INJECT_MSI, addr, data, 0, 0);
}

static int sim_set_spi_level(struct hv *hv, uint32_t irq, bool level)
{
    return sim_simple(hv, XSIM_OP_SET_SPI, irq, level, 0, 0);
}

/* ---- dirty tracking ---------------------------------------------------- */

static int sim_modified_memory(struct hv *hv, const struct hv_pfn_range *ranges,
                               unsigned int count)
{
    struct hv_sim *s = to_sim(hv);
    struct xsim_pfn_extent ext[XSIM_MAX_MODIFIED_EXTENTS];
    int rc = 0;

    if (!ranges || count == 0)
        return -EINVAL;
    for (unsigned int done = 0; rc == 0 && done < count;) {
        unsigned int n = MIN(count - done, XSIM_MAX_MODIFIED_EXTENTS);
        for (unsigned int i = 0; i < n; i++)
            ext[i] = (struct xsim_pfn_extent){ ranges[done + i].first_pfn, ranges[done + i].nr, 0 };
        const uint64_t args[4] = { n, 0, 0, 0 };
        struct xsim_reply reply;
        size_t out_len;
        rc = sim_call_items(s, XSIM_OP_MODIFIED_MEMORY, args, ext, n * sizeof(ext[0]), &reply,
                            NULL, 0, &out_len);
        done += n;
    }
    return rc;
}

/* xensim's bitmap is little-endian 64-bit words: on a little-endian host
 * its bytes are already in the unsigned-long layout, whatever the size. */
_Static_assert(G_BYTE_ORDER == G_LITTLE_ENDIAN, "xensim hosts are little-endian");
_Static_assert(HV_MAX_VRAM_PAGES == XSIM_MAX_VRAM_PAGES, "one limit on both sides");

static int sim_track_dirty_vram(struct hv *hv, uint64_t first_pfn, uint32_t nr,
                                unsigned long *bitmap)
{
    struct hv_sim *s = to_sim(hv);

    if (nr > HV_MAX_VRAM_PAGES || (nr && !bitmap))
        return -EINVAL;
    const uint64_t args[4] = { first_pfn, nr, 0, 0 };
    g_autofree uint64_t *words = g_new0(uint64_t, XSIM_MAX_VRAM_PAGES / 64);
    struct xsim_reply reply;
    size_t out_len;
    int rc = sim_call_items(s, XSIM_OP_TRACK_DIRTY_VRAM, args, NULL, 0, &reply, words,
                            XSIM_MAX_VRAM_PAGES / 8, &out_len);
    if (rc)
        return rc;
    if (out_len != ((size_t)nr + 63) / 64 * 8 || reply.val[0] != nr)
        return -EPROTO;
    memcpy(bitmap, words, HV_DIRTY_BITMAP_LONGS(nr) * sizeof(unsigned long));
    return 0;
}

static int sim_shutdown(struct hv *hv, unsigned int reason)
{
    return sim_simple(hv, XSIM_OP_SHUTDOWN, reason, 0, 0, 0);
}

static int sim_restrict(struct hv *hv)
{
    return sim_simple(hv, XSIM_OP_RESTRICT, 0, 0, 0, 0);
}

static int sim_liveness_fd(struct hv *hv)
{
    return to_sim(hv)->sock;
}

static void sim_close(struct hv *hv)
{
    struct hv_sim *s = to_sim(hv);

    for (uint16_t id = 0; id < XSIM_MAX_SERVERS; id++)
        unmap_server_pages(&s->servers[id]);
    g_hash_table_destroy(s->ports);
    GHashTableIter it;
    gpointer addr, value;
    g_hash_table_iter_init(&it, s->grant_maps);
    while (g_hash_table_iter_next(&it, &addr, &value))
        if (!((struct sim_grant_mapping *)value)->in_window)
            munmap(addr, (size_t)((struct sim_grant_mapping *)value)->count * SIM_PAGE_SIZE);
    g_hash_table_destroy(s->grant_maps);
    if (s->grant_window)
        munmap(s->grant_window, s->grant_window_size);
    g_free(s->window_used);
    if (s->ram_view)
        munmap(s->ram_view, s->ram_view_size);
    g_free(s->copy_segs);
    g_free(s->copy_results);
    if (s->ram_fd >= 0)
        close(s->ram_fd);
    /* Closing the socket makes xensim tear down whatever we still own. */
    if (s->sock >= 0)
        close(s->sock);
    g_free(s);
}

/* ---- the dm_restrict test hook ------------------------------------------ */

static int probe_op(struct hv_sim *s, uint32_t domid, uint32_t op, uint64_t a0, uint64_t a1,
                    uint64_t a2, uint64_t a3, uint64_t *val0)
{
    const uint64_t args[4] = { a0, a1, a2, a3 };
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    int rc = sim_call_to(s, op, XSIM_TARGET_OTHER | domid, args, &reply, fds);

    close_fds(fds, XSIM_MAX_FDS); /* another domain's RAM memfd: never kept */
    *val0 = reply.val[0];
    return rc;
}

char *hv_sim_probe_foreign(struct hv *hv, uint32_t domid)
{
    struct hv_sim *s = to_sim(hv);
    uint64_t id = 0, local = 0, unused;
    int ram = probe_op(s, domid, XSIM_OP_GET_RAM, 0, 0, 0, 0, &unused);
    int create = probe_op(s, domid, XSIM_OP_CREATE_SERVER, 0, 0, 0, 0, &id);
    int range = probe_op(s, domid, XSIM_OP_MAP_RANGE, create ? 0 : id, HV_RANGE_PORT, 0x80, 0x80,
                         &unused);
    /* port 1: the first vCPU port of the server just created, if it was */
    int bind = probe_op(s, domid, XSIM_OP_EVTCHN_BIND, 1, 0, 0, 0, &local);
    int irq = probe_op(s, domid, XSIM_OP_SET_ISA_IRQ, 5, 0, 0, 0, &unused);
    int grant = probe_op(s, domid, XSIM_OP_GRANT_UNMAP, 1, 0, 0, 0, &unused);

    if (bind == 0)
        probe_op(s, domid, XSIM_OP_EVTCHN_UNBIND, local, 0, 0, 0, &unused);
    if (create == 0)
        probe_op(s, domid, XSIM_OP_DESTROY_SERVER, id, 0, 0, 0, &unused);
    return g_strdup_printf("map_ram=%d create_server=%d map_range=%d evtchn_bind=%d "
                           "isa_irq=%d grant=%d", ram, create, range, bind, irq, grant);
}

static const struct hv_ops sim_ops = {
    .name = "xensim",
    .close = sim_close,
    .get_info = sim_get_info,
    .create_server = sim_create_server,
    .map_server_pages = sim_map_server_pages,
    .set_server_state = sim_set_server_state,
    .map_range = sim_map_range,
    .unmap_range = sim_unmap_range,
    .destroy_server = sim_destroy_server,
    .evtchn_bind = sim_evtchn_bind,
    .evtchn_unbind = sim_evtchn_unbind,
    .evtchn_fd = sim_evtchn_fd,
    .evtchn_pending = sim_evtchn_pending,
    .evtchn_unmask = sim_evtchn_unmask,
    .evtchn_notify = sim_evtchn_notify,
    .map_frames = sim_map_frames,
    .unmap_frames = sim_unmap_frames,
    .grant_map = sim_grant_map,
    .grant_unmap = sim_grant_unmap,
    .grant_copy = sim_grant_copy,
    .set_isa_irq_level = sim_set_isa_irq_level,
    .set_pci_intx_level = sim_set_pci_intx_level,
    .set_pci_link_route = sim_set_pci_link_route,
    .inject_msi = sim_inject_msi,
    .set_spi_level = sim_set_spi_level,
    .modified_memory = sim_modified_memory,
    .track_dirty_vram = sim_track_dirty_vram,
    .shutdown = sim_shutdown,
    .restrict_to_domain = sim_restrict,
    .liveness_fd = sim_liveness_fd,
};

static int connect_control(const char *dir)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if ((size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir,
                         XSIM_CONTROL_SOCKET) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int sim_open_domain(struct hv_sim *s)
{
    const uint64_t args[4] = { s->hv.domid, XSIM_PROTOCOL_VERSION };
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    int rc = sim_call(s, XSIM_OP_OPEN, args, &reply, fds);

    if (rc == 0 && (fds[0] < 0 || reply.val[0] == 0 || reply.val[0] > XSIM_MAX_VCPUS ||
                    reply.val[1] > HV_ARCH_ARM))
        rc = -EPROTO;
    if (rc < 0) {
        close_fds(fds, XSIM_MAX_FDS);
        return rc;
    }
    s->ram_fd = fds[0];
    close_fds(fds + 1, XSIM_MAX_FDS - 1);
    s->info = (struct hv_domain_info){
        .domid = s->hv.domid, .nr_vcpus = (unsigned int)reply.val[0],
        .arch = (enum hv_arch)reply.val[1],
    };
    memcpy(s->ram, reply.ram, sizeof(s->ram));
    /* xensim's RAM regions are the whole of the guest's RAM (the VGA
     * window inside the first is MMIO but counted, as Xen counts it). */
    for (unsigned int i = 0; i < XSIM_RAM_REGIONS; i++)
        if (s->ram[i].size <= UINT64_MAX - s->info.ram_size)
            s->info.ram_size += s->ram[i].size;
    return 0;
}

struct hv *hv_sim_open(uint32_t domid, const char *dir, int *err)
{
    struct hv_sim *s = g_new0(struct hv_sim, 1);
    int rc;

    s->hv.ops = &sim_ops;
    s->hv.domid = domid;
    s->ram_fd = -1;
    s->ports = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, port_free);
    s->grant_maps = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    s->sock = connect_control(dir);
    rc = s->sock < 0 ? s->sock : sim_open_domain(s);
    if (rc < 0) {
        *err = rc;
        sim_close(&s->hv);
        return NULL;
    }
    return &s->hv;
}
